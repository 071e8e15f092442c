"""How a bad stack file is reported: one line per problem, naming the key, the value and what is allowed."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from .choices import NAMESPACE
from .types import NOT_ALLOWED

try:  # pulumi is a runtime dependency; RunError makes the CLI print the message without a traceback.
    from pulumi import RunError as _BaseError
except ImportError:  # pragma: no cover
    _BaseError = Exception


class ConfigError(_BaseError):
    """Invalid stack configuration. The message names each key, the value given and what is allowed."""


def show(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    return repr(value) if isinstance(value, str) else json.dumps(value)


def _joined(lines: list[str]) -> str:
    return lines[0] if len(lines) == 1 else "invalid stack configuration:\n  " + "\n  ".join(lines)


class Problems:
    """The problems the checks after parsing find, gathered so that one error lists them all."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def not_allowed(self, key: str, given: Any, allowed: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: {show(given)} is not allowed; allowed: {allowed}")

    def missing(self, key: str, allowed: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: not set; allowed: {allowed}")

    def add(self, key: str, text: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: {text}")

    def raise_any(self) -> None:
        if self.lines:
            raise ConfigError(_joined(self.lines))


def describe(err: ValidationError, root: type[BaseModel]) -> str:
    """Pydantic's errors for a stack file whose top-level model is `root`, in the words of Problems."""
    lines = []
    for e in err.errors():
        key = f"{NAMESPACE}:" + ".".join(str(p) for p in e["loc"])
        given = e.get("input")
        if e["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key; allowed keys here: {', '.join(allowed_keys(root, e['loc'][:-1]))}")
        elif e["type"] == "enum":
            lines.append(f"{key}: {show(given)} is not allowed; allowed: {e['ctx']['expected'].replace(chr(39), '')}")
        elif e["type"] == NOT_ALLOWED:
            lines.append(f"{key}: {show(given)} is not allowed; allowed: {e['ctx']['allowed']}")
        elif e["type"] == "string_pattern_mismatch":
            lines.append(f"{key}: {show(given)} is not allowed; allowed: a value matching {e['ctx']['pattern']}")
        else:
            lines.append(f"{key}: {show(given)} is not allowed: {e['msg'].removeprefix('Value error, ')}")
    return _joined(lines)


def allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    model: Any = root
    in_collection = False  # the part after a dict or list field is its key or index, not a field
    for part in loc:
        if in_collection:
            in_collection = False
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        annotation = getattr(field, "annotation", None)
        if annotation is None or not isinstance(annotation, type) or not issubclass(annotation, BaseModel):
            in_collection = get_origin(annotation) in (dict, list, tuple)
            args = getattr(annotation, "__args__", ())
            annotation = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if annotation is None:
            return []
        model = annotation
    return [f.alias or n for n, f in model.model_fields.items()]
