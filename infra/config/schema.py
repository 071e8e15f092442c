"""The JSON schema of a stack file, for editors (schema/stack-config.schema.json) and the generated docs."""

from __future__ import annotations

from typing import Any

from .choices import NAMESPACE
from .stack import StackConfigInput


def json_schema() -> dict[str, Any]:
    """JSON schema of a `Pulumi.<stack>.yaml` file: the `mlops:*` keys typed, other namespaces free."""
    inner = StackConfigInput.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = inner.pop("$defs", {})
    properties = {f"{NAMESPACE}:{key}": value for key, value in inner["properties"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mlops-stack Pulumi stack file",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "description": "Stack configuration; mlops:* keys are checked, other namespaces pass through",
                "properties": properties,
                "patternProperties": {f"^(?!{NAMESPACE}:)": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "$defs": defs,
    }
