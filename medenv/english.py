"""English shared by every generated text (questions, pages, teacher thoughts)."""

from __future__ import annotations


def article(word: str) -> str:
    """The indefinite article before ``word``: ``"an"`` when it begins with a vowel letter
    (either case), else ``"a"`` ("an inheritance entry", "an anatomical structure", "a
    gene"). Spelling, not sound: the nouns medenv writes have no silent-h or "uni-" start."""
    return "an" if word[:1].lower() in ("a", "e", "i", "o", "u") else "a"
