"""The generated reference pages (docs/reference/): every config key from the config models, and
every pipeline-config key from mlops_jobs/pipeline_names.py.

`mlops-stack docs` writes them; tests/unit/test_docs.py fails when one is stale.
"""

from __future__ import annotations

import typing
from enum import Enum
from typing import Any, Iterator

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config.choices import NAMESPACE
from infra.config.stack import StackConfigInput
from infra.config.types import Pattern, Words

HEADER = """# Configuration reference

For: everyone who writes a `Pulumi.<stack>.yaml`. Generated from the config models by
`mlops-stack docs`; do not edit by hand. How configuration works, with examples, is in
[../configuration.md](../configuration.md).

Every key is under the `{ns}:` namespace. "—" as a default means the default depends on the
environment or backend, as the description says.
"""


def _args(annotation: Any) -> tuple:
    return typing.get_args(annotation)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under Optional/Annotated, and the metadata found on the way."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = _args(annotation)
            metadata.extend(extra)
        elif origin is typing.Union and type(None) in _args(annotation):
            annotation = next(a for a in _args(annotation) if a is not type(None))
        else:
            return annotation, metadata


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _bounds(metadata: list[Any]) -> str:
    low = next((m.ge for m in metadata if isinstance(m, Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, Le)), None)
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f", at least {low}"
    return ""


def _type(annotation: Any, metadata: list[Any]) -> str:
    annotation, inner = _unwrap(annotation)
    metadata = metadata + inner
    pattern = next((m for m in metadata if isinstance(m, (Pattern, Words))), None)
    if pattern:
        return pattern.allowed
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " or ".join(f"`{m.value}`" for m in annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        item = _args(annotation)[0]
        sizes = [m.min_length for m in metadata if isinstance(m, MinLen)] + [m.max_length for m in metadata if isinstance(m, MaxLen)]
        return f"a list of {_type(item, [])}" + (f" (at least {sizes[0]})" if sizes and sizes[0] else "")
    if origin is dict:
        return "a map of names to " + ("strings" if _args(annotation)[1] is str else "values")
    if annotation is bool:
        return "`true` or `false`"
    if annotation is int:
        return "an integer" + _bounds(metadata)
    if annotation is str:
        regex = next((getattr(m, "pattern", None) for m in metadata if getattr(m, "pattern", None)), None)
        return f"a string matching `{regex}`" if regex else "a string"
    return "an object"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return f"`{field.default_factory()!r}`".replace("'", '"')
    value = field.default
    if value is None or value is PydanticUndefined or isinstance(value, BaseModel):
        return "—"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _sections(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel], list[tuple[str, str, str, str]]]]:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = field.alias or name
        annotation, metadata = _unwrap(field.annotation)
        metadata = list(field.metadata) + metadata
        origin = typing.get_origin(annotation)
        child = f"{path}.{key}" if path else key
        if _is_model(annotation):
            nested.append((child, annotation))
            rows.append((key, f"a map: see [`{NAMESPACE}:{child}`](#{_anchor(child)})", "", _cell(field.description or "")))
        elif origin is dict and _is_model(_args(annotation)[1]):
            nested.append((f"{child}.<name>", _args(annotation)[1]))
            rows.append((key, f"a map of names to [`{NAMESPACE}:{child}.<name>`](#{_anchor(child + '.<name>')})", "`{}`", _cell(field.description or "")))
        elif origin is list and _is_model(_args(annotation)[0]):
            nested.append((f"{child}[]", _args(annotation)[0]))
            rows.append((key, f"a list of [`{NAMESPACE}:{child}[]`](#{_anchor(child + '[]')})", _default(field), _cell(field.description or "")))
        else:
            rows.append((key, _cell(_type(annotation, metadata)), _default(field), _cell(field.description or "")))
    yield path, model, rows
    for child, child_model in nested:
        yield from _sections(child_model, child)


def _anchor(path: str) -> str:
    heading = f"{NAMESPACE}:{path}".lower()
    return "".join(c for c in heading.replace(" ", "-") if c.isalnum() or c in "-_")


def configuration_reference() -> str:
    out = [HEADER.format(ns=NAMESPACE)]
    for path, model, rows in _sections(StackConfigInput, ""):
        title = f"`{NAMESPACE}:{path}`" if path else "Top-level keys"
        out.append(f"\n## {title}\n")
        doc = (model.__doc__ or "").strip()
        if doc and not doc.startswith("!!!") and model.__module__.startswith("infra.config"):
            out.append(" ".join(doc.split()) + "\n")
        out.append("\n| Key | Allowed | Default | Description |\n|---|---|---|---|\n")
        out.extend(f"| `{key}` | {allowed} | {default} | {description} |\n" for key, allowed, default, description in rows)
    return "".join(out)


# docs/reference/<file>: its generator.
PAGES = {"configuration.md": configuration_reference}


def pipeline_config_reference() -> str:
    from mlops_jobs import pipeline_names as names

    out = [f"""# Pipeline config reference

For: whoever writes a pipeline, a notebook or a job against the platform. Generated from
`mlops_jobs/pipeline_names.py` by `mlops-stack docs`; do not edit by hand. How it is published is in
[../pipeline-config.md](../pipeline-config.md).

Every backend publishes the same keys: as the ConfigMap and the Secret `{names.CONFIG_NAME}` (in the
pipelines namespace and the platform's), as stack outputs, and as a `.env` file (`{names.DOTENV}` in
the Secret). Pods mount the ConfigMap's files under `{names.CONFIG_MOUNT}`: {", ".join(f"`{f}`" for f in names.FILES)}.

| Key | In | Meaning |
|---|---|---|
"""]
    out.extend(f"| `{key.name}` | {'Secret' if key.secret else 'ConfigMap'} | {_cell(key.meaning)} |\n" for key in names.KEYS)
    return "".join(out)


PAGES["pipeline-config.md"] = pipeline_config_reference
