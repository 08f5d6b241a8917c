"""Loading trainer configs (plain dataclasses) from YAML, with checked keys.

``load_config(cls, path, **overrides)`` reads a YAML mapping, rejects unknown keys with a
`DataError` naming the file, applies non-None overrides (e.g. from the CLI) and returns
``cls(**values)``. ``config_hash(cfg)`` is a stable short hash of a config's fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from medenv.errors import DataError, MedenvError

T = TypeVar("T")


def load_config(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
    """Build a ``cls`` config from an optional YAML file plus non-None overrides."""
    values: dict[str, Any] = {}
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    if path is not None:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise DataError(p, "config file not found")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            raise DataError(p, f"invalid YAML: {exc}", None if line is None else line + 1) from None
        if not isinstance(loaded, dict):
            raise DataError(p, "expected a mapping of config keys")
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise DataError(p, f"unknown config keys {unknown}; known: {sorted(names)}")
        values.update(loaded)
    for key, value in overrides.items():
        if key not in names:
            raise MedenvError(f"{cls.__name__} has no field {key!r}")
        if value is not None:
            values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise MedenvError(f"bad {cls.__name__}: {exc}") from None


def config_hash(config: Any, exclude: tuple[str, ...] = ()) -> str:
    """Stable 12-hex-digit hash of a dataclass config (fields in ``exclude`` left out)."""
    data = {k: v for k, v in asdict(config).items() if k not in exclude}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]
