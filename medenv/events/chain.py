"""The hash chain that makes edits of the event log evident.

Every event written by `medenv.events.store.EventStore` (schema version 2) ends its payload
with ``"h"``: 32 hex digits of

    blake2b(prev || run_id 0x1f episode_id 0x1f seq 0x1f ts_us 0x1f type 0x1f body, 16 bytes)

where ``body`` is the payload's JSON without ``"h"`` and ``prev`` is the raw hash of the
previous event of the same episode (16 zero bytes for seq 0). Run-level events (episode_id
NULL: ``run_started``, ``episode_sealed``, ``run_closed``, judge verdicts) form one chain per
run and store file. When an episode ends, the run chain gets ``episode_sealed {episode_id,
events, hash}``, binding the episode's last hash (and so all its events) to the run, and a
writer that closes cleanly appends ``run_closed``.

`check_chains` walks every chain of a `connect` result and names each event that was
edited, inserted or deleted, each sealed episode that is missing or differs from its seal,
and each ended episode that no seal covers. A chain needs no key, so it shows edits made
with SQL or a text editor, not an adversary who recomputes every later hash. What it
cannot tell apart: the tail of a run deleted after its last seal, and a writer killed
there (such runs are reported as "not closed").
"""

from __future__ import annotations

import hashlib
import re

import msgspec

ZERO = bytes(16)
_SUFFIX = ',"h":"'
_TAIL = len(_SUFFIX) + 32 + 2  # ,"h":"<32 hex>"}
_LOOSE = re.compile(r',\s*"h"\s*:\s*"([0-9a-f]{32})"\s*}\s*$')


def link(
    prev: bytes, run_id: str, episode_id: str | None, seq: int, ts_us: int, type_: str, body: bytes
) -> bytes:
    """The raw 16-byte hash of one event (module docstring)."""
    h = hashlib.blake2b(prev, digest_size=16)
    h.update(chain_key(run_id, episode_id))
    h.update(f"{seq}\x1f{ts_us}\x1f{type_}\x1f".encode("utf-8", "surrogatepass"))
    h.update(body)
    return h.digest()


def chain_key(run_id: str, episode_id: str | None) -> bytes:
    """The hash input that is the same for every event of a chain (``run_id 0x1f
    episode_id 0x1f``; `link`)."""
    return f"{run_id}\x1f{episode_id or ''}\x1f".encode("utf-8", "surrogatepass")


def seal(body: bytes, h: bytes) -> bytes:
    """``body`` (a JSON object) with ``"h": hex(h)`` appended as its last key."""
    return body[:-1] + b',"h":"' + h.hex().encode() + b'"}'


def split(payload: str) -> tuple[str, str | None]:
    """``(body, hex hash)`` of a stored payload; ``(payload, None)`` when it has no hash.
    (A payload re-serialised by an editor still gives its hash: the body then differs.)"""
    if len(payload) > _TAIL and payload.endswith('"}') and payload[-_TAIL:].startswith(_SUFFIX):
        return payload[:-_TAIL] + "}", payload[-_TAIL + len(_SUFFIX) : -2]
    tail = payload[-80:]
    m = _LOOSE.search(tail)
    if m is not None:
        return payload[: len(payload) - len(tail) + m.start()] + "}", m.group(1)
    h = _decode(payload).get("h")  # moved by an editor: the body cannot match any more
    return payload, h if isinstance(h, str) and _is_hex(h) and len(h) == 32 else None


# (text in a problem line, reason) for verify's summary; the first match names it
REASONS = (
    ("missing from the store", "deleted episode"),
    ("appears twice", "inserted event"),
    ("missing (deleted?)", "deleted event"),
    ("does not match the hash chain", "edited event"),
    ("has no hash", "edited event"),
    ("differs from its seal", "changed episode end"),
    ("not sealed", "unsealed episode"),
    ("(events inserted or deleted?)", "event sequence differs"),
    ("differs:", "re-execution differs"),
    ("differs: logged", "re-execution differs"),
)


class ChainReport(msgspec.Struct, kw_only=True):
    """What `check_chains` found. ``episodes``: problems per episode id (episodes without
    problems are absent); ``runs``: problems of run chains (``"run R (file F): ..."``);
    ``legacy``: episodes written before the chain (schema v1), not checked; ``open_runs``:
    runs whose writer did not close (killed, still writing, or tail deleted)."""

    episodes: dict[str, list[str]] = {}
    runs: list[str] = []
    legacy: list[str] = []
    open_runs: list[str] = []
    checked: int = 0  # events whose hash was checked


class _Walk(msgspec.Struct, kw_only=True):
    problems: list[str] = []
    count: int = 0
    last: bytes = ZERO
    legacy: bool = False
    ended_us: int | None = None  # ts of episode_ended
    seals: list[tuple[dict, int]] = []  # run chains: (seal payload, ts_us)
    closed: bool = False
    last_us: int = 0


def _walk(rows, walk: _Walk) -> int:
    """Check one chain's rows (sorted by seq); returns how many hashes were checked."""
    checked = 0
    for run_id, episode_id, seq, ts_us, type_, payload in rows:
        if seq != walk.count:
            if seq < walk.count:
                walk.problems.append(f"event seq {seq} ({type_}) appears twice (inserted?)")
            else:
                missing = f"{walk.count}" if seq == walk.count + 1 else f"{walk.count}-{seq - 1}"
                walk.problems.append(f"event(s) seq {missing} missing (deleted?)")
        walk.count = max(walk.count, seq + 1)
        walk.last_us = max(walk.last_us, ts_us or 0)
        body, hexhash = split(payload)
        if hexhash is None:
            if _version(payload) < 2:
                walk.legacy = True
            else:
                walk.problems.append(f"event seq {seq} ({type_}) has no hash (edited?)")
            continue
        checked += 1
        expected = link(walk.last, run_id, episode_id, seq, ts_us, type_, body.encode())
        if expected.hex() != hexhash:
            walk.problems.append(
                f"event seq {seq} ({type_}) does not match the hash chain (edited, or an "
                "event before it was inserted or deleted)"
            )
        walk.last = bytes.fromhex(hexhash) if _is_hex(hexhash) else ZERO
        if type_ == "episode_ended":
            walk.ended_us = ts_us
        elif type_ == "episode_sealed":
            walk.seals.append((_decode(payload), ts_us))
        elif type_ == "run_closed":
            walk.closed = True
    return checked


def check_chains(con, episode_id: str | None = None) -> ChainReport:
    """Check every chain of a `medenv.events.store.connect` result (module docstring), or
    only episode ``episode_id`` and its run's chain."""
    from medenv.events.store import connected_files

    files = connected_files(con)
    where, params = "", []
    if episode_id is not None:
        where = (
            "WHERE episode_id = ? OR (episode_id IS NULL AND run_id IN "
            "(SELECT run_id FROM events WHERE episode_id = ?))"
        )
        params = [episode_id, episode_id]
    cur = con.execute(
        "SELECT file, run_id, episode_id, seq, epoch_us(ts), type, CAST(payload AS VARCHAR) "
        f"FROM events_by_file {where} ORDER BY file, run_id, episode_id NULLS FIRST, seq",
        params,
    )
    walks: dict[tuple, _Walk] = {}
    report = ChainReport()
    group, rows = None, []

    def finish() -> None:
        if group is not None:
            walk = walks.setdefault(group, _Walk())
            report.checked += _walk(rows, walk)

    while batch := cur.fetchmany(20_000):
        for file, *row in batch:
            key = (file, row[0], row[1])
            if key != group:
                finish()
                group, rows = key, []
            rows.append(row)
    finish()
    runs = {k: w for k, w in walks.items() if k[2] is None}
    episodes = {k: w for k, w in walks.items() if k[2] is not None}
    sealed: set[tuple] = set()
    for (file, run_id, _), walk in runs.items():
        if episode_id is not None:
            walk.problems = []  # one episode's check: the run's own problems are not its
        where = f"run {run_id} ({files[file % len(files)] if files else file})"
        report.runs.extend(f"{where}: {p}" for p in walk.problems)
        if not walk.closed and not walk.legacy:
            report.open_runs.append(where)
        for data, _ts in walk.seals:
            eid = str(data.get("episode_id"))
            if episode_id is not None and eid != episode_id:
                continue
            sealed.add((file, run_id, eid))
            ep = episodes.get((file, run_id, eid))
            if ep is None:
                report.episodes.setdefault(eid, []).append(
                    f"sealed in run {run_id} with {data.get('events')} events but missing "
                    "from the store (deleted?)"
                )
            elif ep.count != data.get("events") or ep.last.hex() != data.get("hash"):
                ep.problems.append(
                    f"differs from its seal in the run chain ({ep.count} events, seal says "
                    f"{data.get('events')}): events added, edited or deleted at its end?"
                )
    for (file, run_id, eid), walk in episodes.items():
        if walk.legacy:
            report.legacy.append(eid)
        run = runs.get((file, run_id, None))
        later = run is not None and (run.closed or run.last_us > (walk.ended_us or 0))
        if walk.ended_us is not None and not walk.legacy and (file, run_id, eid) not in sealed:
            if later:  # the writer went on after it ended: the seal was deleted (or never was)
                walk.problems.append("ended but not sealed in its run's chain (inserted?)")
        if walk.problems:
            report.episodes.setdefault(eid, []).extend(walk.problems)
    return report


def check_episode(con, episode_id: str) -> list[str]:
    """The chain problems of one episode (its own chain and its seal)."""
    return check_chains(con, episode_id).episodes.get(episode_id, [])


def _decode(payload: str) -> dict:
    try:
        data = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _version(payload: str) -> int:
    v = _decode(payload).get("v", 1)
    return v if isinstance(v, int) else 1


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
