"""Errors medenv raises for bad input. Each names what was wrong and where."""


class MedenvError(Exception):
    """Base class of every error medenv raises on purpose."""


class DataError(MedenvError):
    """A data file is missing or malformed. The message names the file (and line)."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


# seeds are kept as signed 64-bit integers (msgpack caches, DuckDB, numpy's generators)
MAX_SEED = 2**63 - 1


def check_seed(value: int, flag: str = "--seed") -> int:
    """``value`` when it is a seed (0 to `MAX_SEED`); else a `MedenvError` naming ``flag``
    (a corpus seed of 10**23 failed when its built corpus was cached, a minute in)."""
    if value < 0:
        raise MedenvError(f"{flag} must be >= 0, got {value}")
    if value > MAX_SEED:
        raise MedenvError(f"{flag} must be at most 2**63 - 1 ({MAX_SEED:,}), got {value}")
    return value


def is_utf8_text(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8: false when it holds a lone UTF-16 surrogate, which
    no UTF-8 file, JSON line or DuckDB string (so no event log) can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MESSAGE_MAX_CHARS = 2000


def clip_message(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters plus a note of how many were left out: an error
    that quotes a user's value (a 1 MB ``question_id``) stays a readable line."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters]"
