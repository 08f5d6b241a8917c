"""The oracle's choices (`agents.oracle.OracleAgent` mixes this class in).

After each observation the *rivals* of a chain node are the visible entities that fit
its facts (KG truth), the *choosable* ones those a unit shows with the previous node. A
choice is made when the evidence decides it: ``single``, ``evidence``, ``lookahead`` or,
for a real tie, ``order`` (`Choice`); `Choosing._commit_text` says what showed it, each
sentence backed by a unit.
"""

from __future__ import annotations

import msgspec
from medenv.agents.chain_facts import Fact


class Choice(msgspec.Struct, kw_only=True):
    """One commitment: ``node`` (chain index) resolved to ``chosen`` at action index
    ``step``. ``reason``: single (the only visible entity that fits the node's facts),
    evidence (shown with more of the facts than any other visible one that fits),
    lookahead (of several that fit, the only one shown leading to the next clue), order
    (several are shown with every fact: the first listed of ``candidates``, the tie) or
    explore (a deliberate wrong try). ``candidates``: the visible entities that fit, in
    observation order (for order: the tie). ``rejected``: a later check ruled it out."""

    node: int
    step: int
    chosen: str
    candidates: list[str]
    reason: str
    rejected: bool = False


class Choosing:
    """Mixin of `OracleAgent`: deciding a node from the evidence and stating why."""

    def _shown_sets(self, facts: list[Fact]) -> list[set[str]]:
        """Per fact: the entities the observations state it about."""
        out = []
        for f in facts:
            near: set[str] = set()
            for u in self.ev.units:
                if f.anchor in u:
                    near |= u
            out.append(near & self.cf.rel(f))
        return out

    def _choose(self, node, head, facts, tried, dry: bool = False, final: bool = False):
        """The entity the evidence singles out at ``node`` (module docstring, steps 2-3),
        with its `Choice`; None when the evidence does not decide yet."""
        shown = self._shown_sets(facts)
        excluded = set(self.path) | tried | self.rejected
        # every visible entity that fits the node's facts (KG), shown with them or not
        rivals = (self.cf.fit_set(node, head) & self.ev.order.keys()) - excluded
        fitting = sorted(rivals & shown[0], key=lambda e: self.ev.order[e])  # choosable
        if not fitting:
            return None
        score = {e: sum(e in s for s in shown) for e in rivals}
        best = max(score[e] for e in fitting)
        fits = [e for e in fitting if score[e] == best]
        ahead = [e for e in rivals if score[e] >= best]  # as well supported as the best
        if len(rivals) == 1:
            reason = "single"  # the only visible candidate that fits every stated fact
        elif len(ahead) == 1:
            reason = "evidence"  # shown with more of the facts than any other that fits
        elif best == len(facts) or final:
            leads = [e for e in fits if self._leads(node, e)]
            if len(leads) == 1:
                fits = leads
                reason = "lookahead"  # the only one shown leading on to the next clue
            else:
                reason = "order"  # several fit every stated fact: try them in listed order
        else:
            return None
        cands = fits if reason == "order" else sorted(rivals, key=lambda e: self.ev.order[e])
        if dry:
            return fits[0], None
        return fits[0], Choice(
            node=node, step=self._steps, chosen=fits[0], candidates=cands[:20], reason=reason
        )

    def _commit_text(self, node: int, head: str, facts: list[Fact], choice: Choice) -> str:
        """The sentences that state the choice, each backed by a unit that shows it."""
        e = choice.chosen
        name = self._name(e)
        with_ = [
            f
            for f in facts
            if f.anchor != head and not self._described(f) and self.ev.co_shown(e, f.anchor)
        ]
        first = self._say(
            f'"{name}" is listed with "{self._name(head)}"',
            f'The results link "{name}" to "{self._name(head)}"',
        )
        if with_:
            first += " and with " + " and ".join(f'"{self._name(f.anchor)}"' for f in with_)
        text = first + "." + self._properties_text(e, facts)
        if choice.reason == "lookahead":
            nxt = [
                e2
                for e2 in self.cf.fit_set(node + 1, e)
                if self.ev.visible(e2)
                and self.ev.co_shown(e, e2)
                and any(self.ev.shown(e2, g, self.kg, self.closure) for g in self._next_clues(node))
            ]
            g = next(
                g for g in self._next_clues(node) if self.ev.shown(nxt[0], g, self.kg, self.closure)
            )
            text += (
                f' Other candidates fit too, but "{name}" is listed with "{self._name(nxt[0])}".'
                f' And "{self._name(nxt[0])}" is listed with "{self._name(g.anchor)}",'
                " the clue of the next link, so I follow it."
            )
        elif choice.reason in ("single", "evidence"):
            text += self._say(
                " No other candidate I have seen matches as many of the clues, so I take it.",
                " It is the one that matches the clues best, so I take it.",
            )
        else:
            others = [c for c in choice.candidates if c != e and self.cf.fits(node, head, c)]
            more = "".join(f' So is "{self._name(c)}".' for c in others[:3])
            text += (
                f'{more} Several fit everything stated so far; I will follow "{name}", '
                "the first listed, and check it against the next link."
            )
        return text
