"""The writer's running fold of an open episode into its `EpisodeSummary`.

`EventStore` feeds every committed event of an episode to its `SummaryFold` (``add``) and
stores ``summary()`` in the episode's ``episode_sealed`` when the episode ends, so
evaluation reads one event type instead of joining six (`medenv.events.summaries`). The
rules are those of the SQL projection over the episode's events (`EpisodeSummary`'s
docstring); tests check that both readings of the same store give the same records.
"""

from __future__ import annotations

import numbers

from medenv.events import schema as ev


class SummaryFold:
    """What one episode's events add up to so far (``add`` them in ``seq`` order)."""

    __slots__ = (
        "started", "ended", "n_actions", "n_called", "n_rejected", "end", "reward", "prediction",
    )  # fmt: skip

    def __init__(self) -> None:
        self.started: ev.EpisodeStarted | None = None
        self.ended: ev.EpisodeEnded | None = None
        self.n_actions = self.n_called = self.n_rejected = 0
        self.reward: ev.RewardAssigned | None = None
        self.prediction: str | None = None

    def add(self, payload: ev.Payload) -> None:
        """One committed event of the episode (cheap: a type test and a counter)."""
        kind = type(payload)
        if kind is ev.ActionReceived:
            self.n_actions += 1
        elif kind is ev.ToolCalled:
            self.n_called += 1
        elif kind is ev.ActionRejected:
            self.n_rejected += 1
        elif kind is ev.AnswerSubmitted:
            self.prediction = payload.answer
        elif kind is ev.RewardAssigned:
            self.reward = payload
        elif kind is ev.EpisodeEnded:
            self.ended = payload
        elif kind is ev.EpisodeStarted:
            self.started = payload

    def summary(self) -> ev.EpisodeSummary | None:
        """The episode's `EpisodeSummary`; None when it logged no ``episode_started``
        (evaluation does not count such an episode)."""
        s = self.started
        if s is None:
            return None
        item = s.item if isinstance(s.item, dict) else {}
        external = item.get("kg_source") == "external"
        end, reward = self.ended, self.reward
        return ev.EpisodeSummary(
            question_id=s.question_id,
            specialty="general" if s.specialty is None else s.specialty,
            external=external,
            n_hops=None if external else s.n_hops,
            optimal_calls=None if external else s.optimal_calls,
            rarity=None if external else _number(item.get("rarity")),
            tags=dict(s.tags),
            ended=end is not None,
            n_tool_calls=end.n_tool_calls if end is not None else self.n_called,
            n_actions=self.n_actions or (end.steps if end is not None else 0),
            n_format_errors=end.n_format_errors if end is not None else self.n_rejected,
            has_actions=self.n_actions > 0,
            correct=bool(reward is not None and reward.correct),
            reward=None if reward is None else reward.total,
            evidence_recall=None if reward is None or external else reward.evidence_recall,
            components={} if reward is None else dict(reward.components),
            prediction=self.prediction,
        )


def _number(value) -> float | None:
    """``item.rarity`` as the SQL reading casts it (a JSON number -> DOUBLE, else NULL)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)
