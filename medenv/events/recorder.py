"""`Recorder`: what the env needs from an event store, as a small protocol.

`MedResearchEnv` takes ``db=`` as a path (it opens an `medenv.events.store.EventStore`
there), None (no logging) or any object with these methods: the env stages a step's events
with ``emit`` (or, to a recorder that has ``emit_step``, as `EventStore.emit_step` takes
it, the step's `medenv.events.logged_step.LoggedStep` whole), logs them with ``commit`` (or drops them with ``discard`` when the step
raised), seals an episode with ``end_episode`` and calls ``close`` once. ``shard`` numbers
the writer (it is part of the episode ids). `MemoryRecorder` keeps the payloads in a list
(`medenv.verify` re-executes episodes into one).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from medenv.events import schema as ev


@runtime_checkable
class Recorder(Protocol):
    shard: int

    def emit(self, payload: ev.Payload, episode_id: str | None = None) -> int: ...

    def commit(self) -> None: ...

    def end_episode(self, episode_id: str | None = None) -> None: ...

    def discard(self) -> None: ...

    def close(self) -> None: ...


class MemoryRecorder:
    """A `Recorder` that keeps the episode payloads it is given, in order (``events``), with
    their token counts filled in as `medenv.events.store.EventStore` fills them."""

    shard = 0

    def __init__(self) -> None:
        self.events: list[ev.Payload] = []

    def emit(self, payload: ev.Payload, episode_id: str | None = None) -> int:
        if episode_id is not None:
            self.events.append(ev.with_tokens(payload))  # as the event store writes it
        return len(self.events)

    def commit(self) -> None:
        pass

    def end_episode(self, episode_id: str | None = None) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass
