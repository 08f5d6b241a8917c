"""Question wording: relation lexicon (built-in and user files), names and near-leaks,
answer forms, and the quality figures of the manifest."""

from __future__ import annotations

import json
import re

import pytest

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.loaders.hetionet import METAEDGES
from medenv.kg.loaders.hpo import RELATIONS as HPO_RELATIONS
from medenv.kg.names import natural_order
from medenv.reward import is_correct
from medenv.synth import SynthConfig, synthesize
from medenv.synth.lexicon import BUILTIN, apply_lexicon, load_lexicon
from medenv.synth.qa import QAItem
from medenv.synth.quality import quality, relative_clauses, repeats_noun, verbatim_names
from medenv.synth.render import leaks
from medenv.synth.rewrite import LLMRewriter, accept_rewrite
from tests.chat_server import ChatHandler, serve
from tests.cli import cli_error


def test_the_builtin_lexicon_covers_every_hpo_and_hetionet_relation():
    names = {r.name for r in HPO_RELATIONS} | {m.relation.name for m in METAEDGES.values()}
    assert names <= set(BUILTIN)
    for name, w in BUILTIN.items():
        assert w.phrases(True) and w.phrases(False), name
        # no phrase repeats the noun of its subject's type ("is a gene associated with")
        for verb, _ in (*w.phrases(True), *w.phrases(False)):
            assert not re.match(r"is (a|an|the) (gene|disease|clinical feature)\b", verb), verb


@pytest.mark.parametrize(
    ("name", "natural"),
    [
        ("Leukemia, acute monocytic", "acute monocytic leukemia"),
        ("Deafness, autosomal dominant 1", "autosomal dominant deafness 1"),
        ("Larynx, congenital partial atresia of", "congenital partial atresia of larynx"),
        ("Diabetes mellitus, type 2", "Diabetes mellitus, type 2"),  # "type" is a connective
        ("Marfan syndrome", "Marfan syndrome"),
        (
            "Spinocerebellar ataxia 1, with axonal neuropathy",
            "Spinocerebellar ataxia 1, with axonal neuropathy",
        ),
    ],
)
def test_natural_order_of_inverted_catalogue_names(name, natural):
    assert natural_order(name) == natural


def test_leak_check_catches_variants_and_near_leaks_but_not_other_words():
    assert leaks("Which feature resembles microspherocytosis?", ["Spherocytosis"])
    assert leaks("It shows several granulomas.", ["Granuloma"])
    assert leaks("a seizure of the left arm", ["Seizures"])
    assert leaks("acute monocytic leukemia, in adults", ["Leukemia, acute monocytic"])
    assert leaks("ALB is a gene", ["ALB"])
    # punctuation reads as a space: a seed named in catalogue form gives the entity away
    assert leaks('the disease "Cervical vertebrae, agenesis of"', ["Cervical vertebrae agenesis"])
    assert not leaks("albumin levels", ["ALB"])  # short symbols: whole words only
    assert not leaks("an abnormal eye", ["Abnormality of the eye"])


def _item(answer: str, aliases=()) -> QAItem:
    return QAItem(id="q", question="?", answer=answer, answer_id="OMIM:1", aliases=aliases)


def test_answer_matching_accepts_natural_order_and_plural_forms():
    item = _item("Leukemia, acute monocytic")
    assert is_correct("acute monocytic leukemia", item)
    assert is_correct("Acute Monocytic Leukaemia".replace("ae", "e"), item)
    assert not is_correct("acute myeloid leukemia", item)
    assert is_correct("granulomas", _item("Granuloma"))
    assert is_correct("Seizure", _item("Seizures"))
    assert not is_correct("seizure disorder", _item("Seizures"))


def test_quality_figures_count_what_they_say():
    q1 = 'Which gene is a gene associated with "A" and "B"?'
    q2 = 'Consider a disorder that presents with "X". Which gene is linked to this disorder?'
    assert repeats_noun(q1) and not repeats_noun(q2)
    assert verbatim_names(q1) == 2 and verbatim_names(q2) == 1
    assert relative_clauses("A that b which c that d.") == 3
    assert relative_clauses(q2) == 1
    figures = quality(
        [
            _item("x").__class__(id="a", question=q1, answer="x", answer_id="x"),
            QAItem(id="b", question=q2, answer="y", answer_id="y"),
        ]
    )
    assert figures["repeated_noun"] == 1
    assert figures["verbatim_names"]["share_at_most_one"] == 0.5


def _edge_graph() -> KnowledgeGraph:
    kg = KnowledgeGraph(
        "edgelist",
        "t",
        [
            Relation("part_of", "is linked by part of to", "x"),
            Relation("drains", "is linked by drains to", "y"),
        ],
    )
    for n in "abcdefgh":
        kg.add_node(Node(n, "organ", f"organ {n}"))
    for s, t in ["ab", "bc", "cd", "ef", "fg", "gh"]:
        kg.add_edge(s, t, "part_of")
    for s, t in ["ae", "bf", "cg", "dh", "ah"]:
        kg.add_edge(s, t, "drains")
    return kg


def test_user_lexicon_words_the_questions_and_declares_properties(tmp_path):
    lex = tmp_path / "lexicon.tsv"
    lex.write_text(
        "# relation\tforward\tinverse\tnoun\tproperties\n"
        "part_of\tis part of\tcontains\tpart\ttransitive\n"
        "drains\tdrains into\tis drained by\n",
        encoding="utf-8",
    )
    kg = _edge_graph()
    words = apply_lexicon(kg, lex)
    assert words["part_of"].phrases(True) == (("is part of", None),)
    assert kg.relation_properties()["part_of"].transitive
    assert kg.related("a", "part_of") == {"b", "c", "d"}
    res = synthesize(
        _edge_graph(),
        SynthConfig(
            n=2,
            seed=0,
            answer_types=("organ",),
            seed_types=("organ",),
            min_hops=2,
            max_hops=3,
            lexicon=str(lex),
        ),
        progress=False,
    )
    for item in res.items:
        assert "is linked by" not in item.question
        assert re.search(r"is part of|contains|drains into|is drained by", item.question)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("part_of\tis part of\n", 1, "expected 3 to 5 tab-separated fields"),
        ("# c\n\npart_of\tis part of\t\n", 3, "must be non-empty"),
        ("part_of\ta\tb\n\nnope\ta\tb\n", 3, "unknown relation 'nope'"),
        ("part_of\ta\tb\tn\ttransitive,reflexive\n", 1, "unknown relation property 'reflexive'"),
        ("part_of\ta\tb\n" * 2, 2, "given twice"),
        ("part_of\ta\tb\tn\tinherited:nope\n", 1, "inherited along unknown relation"),
    ],
)
def test_bad_lexicon_files_name_file_and_line(tmp_path, text, line, message):
    lex = tmp_path / "lex.tsv"
    lex.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        apply_lexicon(_edge_graph(), lex)
    assert f"{lex}:{line}: " in str(err.value) and message in str(err.value)


def test_lexicon_file_must_exist_and_be_text(tmp_path):
    with pytest.raises(DataError, match="lexicon file not found"):
        load_lexicon(tmp_path / "missing.tsv")
    bad = tmp_path / "bin.tsv"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8"):
        load_lexicon(bad)


def test_cli_reports_a_bad_lexicon_in_one_line(tmp_path, capsys):
    lex = tmp_path / "lex.tsv"
    lex.write_text("has_phenotype\tpresents with\n", encoding="utf-8")
    _, msg = cli_error(
        [
            "synth",
            "--n",
            "3",
            "--lexicon",
            str(lex),
            "--no-corpus",
            "--no-progress",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert f"{lex}:1" in msg
    _, msg = cli_error(
        [
            "synth",
            "--n",
            "3",
            "--lexicon",
            str(tmp_path / "none.tsv"),
            "--no-corpus",
            "--no-progress",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert "lexicon file not found" in msg
    lex.write_text("has_phenotype\tpresents with\tis seen in\n\nnope\ta\tb\n", encoding="utf-8")
    argv = ["synth", "--n", "3", "--lexicon", str(lex), "--no-corpus", "--no-progress"]
    _, msg = cli_error([*argv, "--out", str(tmp_path / "o")], capsys)
    assert f"{lex}:3: unknown relation 'nope'" in msg


class _Rewriter(ChatHandler):
    """Rewrites by a rule on the question: keeps it (prefixed) for odd lengths, drops its
    quoted names for even lengths (which synthesis must reject)."""

    def reply(self, body):
        q = body["messages"][-1]["content"]
        if len(q) % 2:
            return {"role": "assistant", "content": "Quiz: " + q}
        return {"role": "assistant", "content": q.replace('"', "")}


def test_llm_rewrite_through_an_openai_compatible_server_is_checked_and_cached(
    compact_kg, tmp_path
):
    from medenv.agents.backend_openai import OpenAIBackend

    cache = tmp_path / "rewrites.jsonl"
    with serve(_Rewriter) as url:
        rewriter = LLMRewriter(OpenAIBackend(url, "m"), "m", cache)
        res = synthesize(compact_kg, SynthConfig(n=8, seed=5), progress=False, rewrite=rewriter)
        asked = len(_Rewriter.requests)
    base = synthesize(compact_kg, SynthConfig(n=8, seed=5), progress=False)
    assert asked == rewriter.asked >= 8
    for new, old in zip(res.items, base.items, strict=True):
        if len(old.question) % 2:
            assert new.question == "Quiz: " + old.question
        else:  # the rewrite lost the named entities: rejected, template kept
            assert new.question == old.question
    counts = res.manifest["rewrites"]
    assert counts.get("accepted", 0) + counts.get("rejected_entities", 0) == asked
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    judged = {r["question"]: r for r in records if "accepted" in r}
    assert all(r["accepted"] == (len(q) % 2 == 1) for q, r in judged.items())
    # a second run reads every rewrite from the cache: the server is never asked
    again = LLMRewriter(OpenAIBackend("http://127.0.0.1:9/v1", "m"), "m", cache)
    res2 = synthesize(compact_kg, SynthConfig(n=8, seed=5), progress=False, rewrite=again)
    assert again.asked == 0 and res2.items == res.items


def test_accept_rewrite_rejects_leaks_and_changed_entities():
    from medenv.synth.render import LeakCheck

    check = LeakCheck(["Spherocytosis"])
    q = 'Which disease presents with "Anemia"?'
    assert accept_rewrite(q, 'Which illness shows "Anemia"?', check) is None
    assert accept_rewrite(q, "", check) == "empty"
    assert accept_rewrite(q, 'Which disease with "Anemia" is microspherocytosis?', check) == "leak"
    assert accept_rewrite(q, "Which disease presents with anemia?", check) == "entities"
    assert accept_rewrite(q, 'Which "Anemia" and "Fever"?', check) == "entities"


def test_a_rewrite_cache_cut_by_a_kill_is_mended_and_a_damaged_one_named(tmp_path):
    # the cache was read with json.loads per line: a kill mid-append left a torn last line
    # and every later run died with a JSONDecodeError traceback
    from medenv.errors import DataError

    cache = tmp_path / "rewrites.jsonl"
    good = json.dumps({"key": "k1", "model": "m", "question": "q", "rewrite": "r"})
    cache.write_text(good + "\n" + '{"key": "k2", "mod')
    with pytest.warns(UserWarning, match=r"cut off a torn last line \(18 bytes"):
        rewriter = LLMRewriter(None, "m", cache)
    assert list(rewriter._cache) == ["k1"] and cache.read_text() == good + "\n"
    rewriter._append({"key": "k3", "rewrite": "s"})  # the next append starts its own line
    assert list(LLMRewriter(None, "m", cache)._cache) == ["k1", "k3"]
    cache.write_text(good + "\nnot json\n" + good + "\n")
    with pytest.raises(DataError, match=r"rewrites\.jsonl:2: not a rewrite record"):
        LLMRewriter(None, "m", cache)
