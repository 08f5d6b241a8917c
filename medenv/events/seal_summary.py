"""The running fold of an open episode into its `EpisodeSummary`, over the episode's
stored payloads (JSON).

The `medenv.events.sealer.Sealer` feeds every event of an episode to its `SummaryFold`
(``add``: the event type and its payload's JSON) and stores ``summary()`` in the episode's
``episode_sealed``, so evaluation reads one event type instead of joining six
(`medenv.events.summaries`). The rules are those of the SQL projection over the episode's
events (`EpisodeSummary`'s docstring); tests check that both readings of the same store
give the same records. The fold reads the JSON as stored (values as JSON gives them back:
an integer stays an integer), so the summary holds exactly the values its events hold.
"""

from __future__ import annotations

import numbers
from typing import Any

import msgspec

from medenv.events import schema as ev
from medenv.events.codec import decode_nested

_DICT = msgspec.json.Decoder(dict[str, Any])
_COUNTED = {"action_received": 0, "tool_called": 1, "action_rejected": 2}
_KEPT = frozenset(("answer_submitted", "reward_assigned", "episode_ended", "episode_started"))


def _object(payload: bytes) -> dict:
    """``payload``'s JSON object (however deep a writer nested it: `decode_nested`); ``{}``
    for one that is not an object (what the SQL reading gets from it too)."""
    try:
        return decode_nested(_DICT, payload)
    except (msgspec.DecodeError, RecursionError):
        return {}


class SummaryFold:
    """What one episode's events add up to so far (``add`` them in ``seq`` order)."""

    __slots__ = ("started", "ended", "counts", "reward", "prediction")

    def __init__(self) -> None:
        self.started: dict | None = None
        self.ended: dict | None = None
        self.counts = [0, 0, 0]  # action_received, tool_called, action_rejected events
        self.reward: dict | None = None
        self.prediction: str | None = None

    def add(self, type_: str, payload: bytes) -> None:
        """One event of the episode: its type and payload JSON (decoded only for the four
        types the summary reads)."""
        i = _COUNTED.get(type_)
        if i is not None:
            self.counts[i] += 1
        elif type_ in _KEPT:
            data = _object(payload)
            if type_ == "answer_submitted":
                self.prediction = data.get("answer")
            elif type_ == "reward_assigned":
                self.reward = data
            elif type_ == "episode_ended":
                self.ended = data
            else:
                self.started = data

    def summary(self) -> ev.EpisodeSummary | None:
        """The episode's `EpisodeSummary`; None when it logged no ``episode_started``
        (evaluation does not count such an episode)."""
        s = self.started
        if s is None:
            return None
        item = s.get("item")
        item = item if isinstance(item, dict) else {}
        external = item.get("kg_source") == "external"
        end, reward = self.ended, self.reward
        n_actions, n_called, n_rejected = self.counts
        specialty = s.get("specialty")
        return ev.EpisodeSummary(
            question_id=s.get("question_id"),
            specialty="general" if specialty is None else specialty,
            external=external,
            n_hops=None if external else s.get("n_hops"),
            optimal_calls=None if external else s.get("optimal_calls"),
            rarity=None if external else _number(_float(item, "rarity")),
            tags=_dict(s.get("tags")),
            ended=end is not None,
            n_tool_calls=end.get("n_tool_calls") if end is not None else n_called,
            n_actions=n_actions or (end.get("steps") if end is not None else 0),
            n_format_errors=end.get("n_format_errors") if end is not None else n_rejected,
            has_actions=n_actions > 0,
            correct=bool(reward is not None and reward.get("correct")),
            reward=None if reward is None else _float(reward, "total"),
            evidence_recall=None
            if reward is None or external
            else _float(reward, "evidence_recall"),
            components={} if reward is None else _dict(reward.get("components")),
            prediction=self.prediction,
        )


def _float(data: dict, key: str):
    """``data[key]`` as the fold copies a float: JSON's null for a present key is a float
    that JSON cannot hold (NaN, infinity: msgspec writes them as null), so the summary
    holds NaN there (written as null, and not left out as a missing value is)."""
    value = data.get(key)
    return _NAN if value is None and key in data else value


_NAN = float("nan")


def _dict(value) -> dict:
    return dict(value) if isinstance(value, dict) else {}


def _number(value) -> float | None:
    """``item.rarity`` as the SQL reading casts it (a JSON number -> DOUBLE, else NULL)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)
