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


MESSAGE_MAX_CHARS = 2000


def clip_message(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters plus a note of how many were left out: an error
    that quotes a user's value (a 1 MB ``question_id``) stays a readable line."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters]"
