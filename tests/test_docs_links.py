"""Every relative link of README.md and docs/*.md resolves: the file exists and, for a
`#anchor`, a heading of that file has that anchor as GitHub spells it (lower case, punctuation
other than `-` and `_` dropped, spaces as `-`, a repeated heading numbered `-1`, `-2`, ...).
The README links its detail (histories, older readings, analyses) into docs/; a renamed
heading or file must not leave a dead link."""

from __future__ import annotations

import re

from tests.conftest import ROOT

LINK = re.compile(r"\]\(((?:docs/|#)[^)\s]*|[\w\-]+\.md(?:#[^)\s]*)?)\)")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text (fenced code skipped)."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^#{1,6} (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def dead_links(files) -> list[str]:
    dead = []
    for f in files:
        for target in LINK.findall(f.read_text(encoding="utf-8")):
            path, _, anchor = target.partition("#")
            dest = (f.parent / path) if path else f
            if not dest.is_file():
                dead.append(f"{f.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(dest.read_text(encoding="utf-8")):
                dead.append(f"{f.name}: {target} (no such heading)")
    return dead


def test_readme_and_docs_links_resolve():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert not dead_links(files)
    # the README does link into docs/ and to its own headings (a check of nothing would pass)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(LINK.findall(readme)) > 20


def test_a_dead_anchor_or_file_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# A\n\n## Some heading: `x` (1)\n\n```\n# not a heading\n```\n## Dup\n## Dup\n"
    )
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#some-heading-x-1) [bad](docs/a.md#not-a-heading) [gone](docs/b.md)\n"
        "[2nd](docs/a.md#dup-1) [3rd](docs/a.md#dup-2)\n"
        "[self](#readme-top)\n# README top\n"
    )
    dead = dead_links([tmp_path / "README.md", tmp_path / "docs" / "a.md"])
    assert dead == [
        "README.md: docs/a.md#not-a-heading (no such heading)",
        "README.md: docs/b.md (no such file)",
        "README.md: docs/a.md#dup-2 (no such heading)",
    ]
