"""Loading trainer configs (plain dataclasses) from YAML, with checked keys.

``load_config(cls, path, **overrides)`` reads a YAML mapping, rejects unknown keys with a
`DataError` naming the file, applies non-None overrides (e.g. from the CLI) and returns
``cls(**values)``. ``config_hash(cfg)`` is a stable short hash of a config's fields.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import msgspec

from medenv.errors import MAX_SEED, DataError, MedenvError
from medenv.paths import check_out_dir

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
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise DataError(
                p, f"invalid YAML: {what}", None if line is None else line + 1
            ) from None
        except UnicodeDecodeError:
            raise DataError(p, "not valid UTF-8 text") from None
        if not isinstance(loaded, dict):
            raise DataError(p, "expected a mapping of config keys")
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise DataError(p, f"unknown config keys {unknown}; known: {sorted(names)}")
        values.update(_typed(cls, loaded, p))
    for key, value in overrides.items():
        if key not in names:
            raise MedenvError(f"{cls.__name__} has no field {key!r}")
        if value is not None:
            values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise MedenvError(f"bad {cls.__name__}: {exc}") from None


def _typed(cls: type, values: dict[str, Any], path: Path) -> dict[str, Any]:
    """``values`` converted to the types of ``cls``'s fields (``"1e-5"`` -> 1e-05); a value
    of the wrong type is a `DataError` naming the key."""
    hints = get_type_hints(cls)
    out = {}
    for key, value in values.items():
        try:
            out[key] = msgspec.convert(value, hints[key], strict=False)
        except msgspec.ValidationError as exc:
            expected = str(exc).split(" - at ")[0]
            raise DataError(path, f"{key}: {expected} ({value!r})") from None
    return out


def require(ok: bool, message: str) -> None:
    """Raise `MedenvError(message)` unless ``ok`` (the configs' ``check`` methods)."""
    if not ok:
        raise MedenvError(message)


def config_hash(config: Any, exclude: tuple[str, ...] = ()) -> str:
    """Stable 12-hex-digit hash of a dataclass config (fields in ``exclude`` left out)."""
    data = {k: v for k, v in asdict(config).items() if k not in exclude}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (not NaN or infinite; not a string)."""
    return isinstance(value, int | float) and math.isfinite(value)


def check_common(config: Any) -> None:
    """The checks `SFTTrainConfig` and `GRPOTrainConfig` share (flag names in messages)."""
    require(isinstance(config.model, str) and config.model.strip() != "", "--model is empty")
    check_out_dir(config.out, "--out")
    lr = config.learning_rate
    require(lr is None or (finite(lr) and lr > 0), f"--lr (learning_rate) must be > 0, got {lr}")
    require(config.batch_size >= 1, f"--batch-size must be at least 1, got {config.batch_size}")
    require(
        config.gradient_accumulation_steps >= 1,
        f"gradient_accumulation_steps must be at least 1, got {config.gradient_accumulation_steps}",
    )
    chars = config.max_tool_chars
    require(chars is None or chars >= 0, f"--max-tool-chars must be >= 0, got {chars}")
    require(config.seed >= 0, f"--seed must be >= 0, got {config.seed}")
    require(config.seed <= MAX_SEED, f"--seed must be at most 2**63 - 1, got {config.seed}")
    require(
        config.logging_steps >= 1, f"logging_steps must be at least 1, got {config.logging_steps}"
    )
    require(config.lora_r >= 1, f"lora_r must be at least 1, got {config.lora_r}")
    require(config.lora_alpha >= 1, f"lora_alpha must be at least 1, got {config.lora_alpha}")
    dropout = config.lora_dropout
    require(finite(dropout) and 0 <= dropout < 1, f"lora_dropout must be in [0, 1), got {dropout}")
