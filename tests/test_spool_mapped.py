"""The memory-mapped spool (`medenv.events.spool.MappedSpool`): lines across chunk
boundaries, the zeros written ahead (on disk while it is open, cut at close, skipped by
readers), a file a killed writer left, growth refused by a file-size limit, writes after
close, and which spool `open_spool` picks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medenv.events import spool as spool_mod
from medenv.events.spool import (
    MappedSpool,
    Spool,
    SpoolError,
    encode_line,
    filesystem_type,
    open_spool,
    read_spool,
)

ROOT = Path(__file__).resolve().parents[1]


def _line(seq: int, size: int = 40) -> bytes:
    text = ("x" * size).encode()
    return encode_line("r", "e1", seq, 1_000 + seq, "action_received",
                       b'{"v":2,"step":%d,"text":"%b"}' % (seq, text))  # fmt: skip


def test_lines_across_many_chunks_read_back_and_the_zeros_go_at_close(tmp_path, monkeypatch):
    monkeypatch.setattr(spool_mod, "CHUNK", 4096)
    path = tmp_path / "s.spool"
    spool = MappedSpool(path)
    written = b""
    for seq in range(300):  # line sizes around the chunk size, some larger than a chunk
        lines = [_line(seq, size=(seq * 97) % 5000)]
        if seq % 3 == 0:
            lines.append(_line(seq + 10_000))
        spool.write_lines(lines)
        written += b"".join(lines)
        assert spool.size == len(written)
    on_disk = path.read_bytes()  # while open: the lines, then zeros up to a chunk boundary
    assert on_disk[: len(written)] == written and not on_disk[len(written) :].strip(b"\0")
    assert len(on_disk) % 4096 == 0 and len(on_disk) > len(written)
    got = read_spool(path)  # a reader of the live file stops at the zeros
    assert len(got.rows) == 400 and got.torn_tail == 0 and not got.skipped
    spool.close()
    assert path.read_bytes() == written
    spool.close()  # a second close does nothing


def test_a_file_left_with_lines_and_zeros_is_written_after_its_lines(tmp_path):
    """What a killed writer leaves: lines, a torn line, zeros. A reader reports the torn
    tail by its own length; a new spool on the file writes after its last byte."""
    path = tmp_path / "s.spool"
    torn = _line(1)[:25]
    path.write_bytes(_line(0) + torn + bytes(8000))
    got = read_spool(path)
    assert [r[2] for r in got.rows] == [0] and got.torn_tail == len(torn)
    spool = MappedSpool(path)
    assert spool.size == len(_line(0) + torn)
    spool.write(_line(2))
    spool.close()
    assert path.read_bytes() == _line(0) + torn + _line(2)
    got = read_spool(path)  # the torn write then a whole line: the whole line is kept
    assert [r[2] for r in got.rows] == [0, 2] and got.salvaged == [2]


def test_clear_empties_the_file_and_writing_goes_on(tmp_path):
    path = tmp_path / "s.spool"
    spool = MappedSpool(path)
    spool.write(_line(0))
    spool.clear()
    assert path.read_bytes() == b"" and spool.size == 0
    spool.write(_line(1))
    assert [r[2] for r in read_spool(path).rows] == [1]
    spool.close()
    assert path.read_bytes() == _line(1)


def test_a_write_after_close_is_a_spool_error_not_memory(tmp_path):
    """A closed mapped spool must not take lines into memory no file holds."""
    path = tmp_path / "s.spool"
    spool = MappedSpool(path)
    spool.write(_line(0))
    spool.close()
    with pytest.raises(SpoolError, match="cannot write the event spool"):
        spool.write(_line(1))
    assert path.read_bytes() == _line(0)


GROW_LIMITED = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from medenv.events import spool as spool_mod
    from tests.test_spool_mapped import _line
    spool_mod.CHUNK = 4096
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: EFBIG, not a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    spool = spool_mod.MappedSpool(Path(sys.argv[1]))
    seq = 0
    while True:
        try:
            spool.write(_line(seq, size=700))
        except spool_mod.SpoolError as exc:
            print("ERROR", seq, spool.size, exc, flush=True)
            break
        seq += 1
    spool.write(b"")  # nothing to write: no error
    print("DONE", flush=True)
    """
)


def test_a_file_that_cannot_grow_is_cut_back_to_its_last_line(tmp_path):
    """A file-size limit between two chunks: the spool grows by exactly what each write
    needs up to the limit, then refuses with SpoolError, the file ending at its last
    complete line (no zeros, no torn line)."""
    path = tmp_path / "limited.spool"
    limit = 3 * 4096 + 1000
    out = subprocess.run(
        [sys.executable, "-c", GROW_LIMITED, str(path), str(limit)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    error, done = out.stdout.splitlines()
    _, seq, size, *message = error.split()
    assert "disk full?" in " ".join(message) and done == "DONE"
    data = path.read_bytes()
    assert len(data) == int(size) <= limit and data.endswith(b"\n")
    assert int(size) > limit - len(_line(0, size=700))  # it filled what the limit allowed
    assert [r[2] for r in read_spool(path).rows] == list(range(int(seq)))


def test_open_spool_maps_only_unsynced_spools_on_a_filesystem_it_knows(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm (tmpfs)")
    folder = Path(os.path.realpath(shm)) / f"medenv-test-{os.getpid()}"
    folder.mkdir()
    try:
        mapped = open_spool(folder / "a.spool")
        synced = open_spool(folder / "b.spool", sync=True)
        assert filesystem_type(folder) == "tmpfs"
        assert isinstance(mapped, MappedSpool) and type(synced) is Spool
        mapped.close()
        synced.close()
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
    local = open_spool(tmp_path / "c.spool")  # mapped exactly where its filesystem allows
    kind = filesystem_type(tmp_path)
    assert kind  # Linux names every filesystem a file can be open on
    assert isinstance(local, MappedSpool) == (kind in spool_mod._MAPPABLE)
    local.close()


KILLED_MAPPED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from medenv.events import spool as spool_mod
    from tests.test_spool_mapped import _line
    spool_mod.CHUNK = 4096
    spool = spool_mod.MappedSpool(Path(sys.argv[1]))
    for seq in range(200):
        spool.write(_line(seq, size=(seq * 131) % 3000))
        print(seq, flush=True)
    time.sleep(60)  # the test kills us here
    """
)


def test_a_killed_writers_lines_are_all_in_the_file(tmp_path):
    """``kill -9`` after a write returned: the line is in the file (the mapping's pages are
    the file's page cache), followed by zeros that readers skip."""
    path = tmp_path / "killed.spool"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_MAPPED, str(path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    returned = [int(line) for _, line in zip(range(200), proc.stdout, strict=False)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert returned == list(range(200))
    got = read_spool(path)
    assert [r[2] for r in got.rows] == returned and got.torn_tail == 0
    assert path.stat().st_size % 4096 == 0  # the zeros are still there
