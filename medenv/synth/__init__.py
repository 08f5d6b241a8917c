"""Knowledge-informed QA synthesis (KISA): verified multi-hop questions from a KG.

    from medenv.kg.cache import load_kg
    from medenv.synth import SynthConfig, synthesize, write_qa_set

    result = synthesize(load_kg("hpo"), SynthConfig(n=200, seed=0))
    write_qa_set("qa-200", result.items, result.manifest)

The built-in set (2,000 items, seed 0, built on first use) is
`medenv.questions.default_qa_set()`: it needs the world (evidence), a layer above synthesis.
"""

from __future__ import annotations

from medenv.synth.config import SYNTH_VERSION, SynthConfig
from medenv.synth.io import read_manifest, read_qa_set, write_qa_set
from medenv.synth.pipeline import SynthResult, synthesize
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.specialty import SPECIALTIES
from medenv.synth.uniqueness import resolve_chain

__all__ = [
    "SPECIALTIES",
    "SYNTH_VERSION",
    "Constraint",
    "Hop",
    "QAItem",
    "SynthConfig",
    "SynthResult",
    "read_manifest",
    "read_qa_set",
    "resolve_chain",
    "synthesize",
    "write_qa_set",
]
