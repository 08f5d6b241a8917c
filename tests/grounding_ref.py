"""A second, independent groundedness check (tests only), written from the rules in
`medenv.grounding`'s docstring, not from its code.

Differences in method: labels are matched as normalised *strings* (lower case, every run
of non-alphanumerics one space) by greedy longest-first search over word starts, instead
of token tuples and a prefix walk; observations are cut into units with `re.split`;
sentences are cut by a character scan; claims are checked with union-find.
"""

from __future__ import annotations

import json
import re

_NEG = (
    "not no none neither nor never without lack lacks lacking absent fail fails doesn't "
    "isn't aren't cannot can't rejected reject"
).split()
_NEG_PHRASES = ("rule out", "ruled out", "rules out", "dead end")
TYPE_WORDS = {
    "inheritance", "mode of inheritance", "inheritance pattern", "clinical course",
    "clinical modifier", "modifier", "past medical history", "past medical history item",
    "frequency", "phenotypic abnormality", "phenotype", "clinical feature", "finding",
    "clinical finding", "phenotypic feature", "disease", "disorder", "condition", "gene",
    "course", "onset", "history",
}  # fmt: skip


def norm(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


class RefIndex:
    def __init__(self, kg) -> None:
        self.folded: dict[str, set[str]] = {}
        self.upper: dict[str, set[str]] = {}
        self.max_words = 1
        for node in kg.nodes():
            for label in (node.name, *node.synonyms):
                key = norm(label)
                if not key:
                    continue
                if label.isupper() and " " not in key:
                    self.upper.setdefault(re.sub(r"[\W_]+", "", label), set()).add(node.id)
                elif key not in TYPE_WORDS:
                    self.folded.setdefault(key, set()).add(node.id)
                self.max_words = max(self.max_words, key.count(" ") + 1)

    def find(self, text: str) -> list[tuple[str, frozenset[str]]]:
        """(surface text, ids) of each mention, left to right, longest first."""
        words = list(re.finditer(r"[^\W_]+|_+", text))
        words = [w for w in words if not w.group(0).startswith("_")]
        out = []
        i = 0
        while i < len(words):
            found = None
            for n in range(min(self.max_words, len(words) - i), 0, -1):
                surface = text[words[i].start() : words[i + n - 1].end()]
                key = " ".join(w.group(0).lower() for w in words[i : i + n])
                ids = set(self.folded.get(key, ()))
                if n == 1 and words[i].group(0) in self.upper:
                    ids |= self.upper[words[i].group(0)]
                if ids:
                    found = (n, surface, frozenset(ids))
                    break
            if found:
                out.append((found[1], found[2]))
                i += found[0]
            else:
                i += 1
        return out


def units_of(obs: str) -> tuple[list[str], list[str]]:
    if obs.startswith("Page:"):
        lines = obs.split("\n")
        title = lines[0][len("Page:") :].strip()
        rest = [ln for ln in lines[1:] if ln.strip() and not ln.startswith("URL:")]
        return [title + "\n" + ln for ln in rest] or [title], [title]
    parts = re.split(r"\n(?=\s*\d+\.\s)", obs)
    titles = []
    for p in parts:
        m = re.match(r"\s*\d+\.\s+(.*?)\s+\|\s+\S+", p)
        if m:
            titles.append(m.group(1))
    return parts, titles


def sentences(text: str) -> list[str]:
    out, cur = [], ""
    for i, ch in enumerate(text):
        if ch == "\n":
            out.append(cur)
            cur = ""
            continue
        cur += ch
        if ch in ".!?" and (i + 1 < len(text) and text[i + 1].isspace()):
            out.append(cur)
            cur = ""
    out.append(cur)
    return [s.strip() for s in out if s.strip()]


def negative(sentence: str, index: RefIndex) -> bool:
    bare = re.sub(r'"[^"]*"', " ", sentence)
    for surface, _ in index.find(bare):
        bare = bare.replace(surface, " ")
    low = bare.lower()
    words = set(re.findall(r"[a-z']+", low))
    return bool(words & set(_NEG)) or any(p in low for p in _NEG_PHRASES)


def parts_of(action: str) -> tuple[str, list[str], list[str], str | None]:
    think = re.search(r"<think>(.*?)</think>", action, re.S)
    calls = re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", action, re.S)
    answer = re.search(r"<answer>(.*?)</answer>", action, re.S)
    args, urls = [], []
    ans = answer.group(1).strip() if answer else None
    for call in calls:  # every call's arguments (several with parallel calls)
        obj = json.loads(call)
        for k, v in obj.get("arguments", {}).items():
            if obj["name"] == "browse" and k == "url":
                urls.append(v)
            elif obj["name"] == "answer" and k == "answer":
                ans = v
            elif isinstance(v, str):
                args.append(v)
    return (think.group(1).strip() if think else ""), args, urls, ans


def connected(groups: list[frozenset[str]], units: list[frozenset[str]]) -> bool:
    parent = list(range(len(groups)))

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            if any((u & groups[a]) and (u & groups[b]) for u in units):
                parent[root(a)] = root(b)
    return len({root(x) for x in range(len(groups))}) <= 1


def ref_check(prompt: str, steps: list[tuple[str, str | None]], index: RefIndex) -> list[str]:
    """Violation kinds found (empty: grounded)."""
    seen = [prompt]
    units = [frozenset(i for _, ids in index.find(prompt) for i in ids)]
    inspected: set[str] = set()
    bad = []
    for action, obs in steps:
        think, args, urls, ans = parts_of(action)
        for text in [think, *args] + ([ans] if ans else []):
            for surface, _ in index.find(text):
                if surface.isupper() and " " not in surface.strip():
                    ok = any(
                        re.search(rf"(?<![^\W_]){re.escape(surface)}(?![^\W_])", s) for s in seen
                    )
                else:
                    ok = any(f" {norm(surface)} " in f" {norm(s)} " for s in seen)
                if not ok:
                    bad.append("mention")
        for url in urls:
            if not any(url in s for s in seen):
                bad.append("url")
        for sentence in sentences(think):
            groups = []
            for _, ids in index.find(sentence):
                if ids not in groups:
                    groups.append(ids)
            if negative(sentence, index):
                if groups and not any(g & inspected for g in groups):
                    bad.append("negation")
            elif len(groups) > 1 and not connected(groups, units):
                bad.append("claim")
        if obs:
            seen.append(obs)
            us, titles = units_of(obs)
            units += [frozenset(i for _, ids in index.find(u) for i in ids) for u in us]
            for t in titles:
                inspected |= {i for _, ids in index.find(t) for i in ids}
    return bad
