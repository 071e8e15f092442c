"""Validated types of the stack file: each carries its pattern (for the schema) and its words (for errors)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError, WrapValidator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# The error type a pattern type raises; its ctx["allowed"] says, in words, what is allowed.
NOT_ALLOWED = "not_allowed"


class InputModel(BaseModel):
    """A section of the stack file as written: camelCase keys, unknown keys refused, frozen."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, use_enum_values=False
    )


@dataclass(frozen=True)
class Pattern:
    """A regex and what it means to a person, e.g. 'an AWS region, e.g. eu-west-1'."""

    regex: str
    allowed: str

    def matches(self, value: str) -> bool:
        return re.match(self.regex, value) is not None

    @property
    def type(self) -> Any:
        """A str type that refuses a mismatch with this pattern's words, not the regex."""
        allowed = self.allowed

        def check(value: Any, handler: Any) -> Any:
            try:
                return handler(value)
            except ValidationError as err:
                if any(e["type"] == "string_pattern_mismatch" for e in err.errors()):
                    raise PydanticCustomError(NOT_ALLOWED, "allowed: {allowed}", {"allowed": allowed}) from None
                raise

        # The pattern itself rides along, so the generated docs can say what is allowed in words.
        return Annotated[str, StringConstraints(pattern=self.regex), WrapValidator(check), self]


QUANTITY = Pattern(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$", "a Kubernetes quantity, e.g. 500m, 512Mi, 20Gi")
DNS_LABEL = Pattern(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "a DNS label: lowercase letters, digits and '-', at most 63 characters")
HOSTNAME = Pattern(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "a DNS host name, e.g. mlflow.example.com")
CRON = Pattern(
    r"^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$",
    "a cron schedule of five fields, e.g. '0 * * * *', or @hourly/@daily/@weekly/@monthly/@yearly",
)
GIT_URL = Pattern(r"^(https://|ssh://|git@|file://)\S+$", "a git URL: https://…, ssh://…, git@host:path or file://…")
CIDR = Pattern(r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$", "an IPv4 CIDR block, e.g. 10.40.0.0/16")
OWNER = Pattern(r"^[A-Za-z0-9]([-A-Za-z0-9_.@]{0,61}[A-Za-z0-9])?$", "a team or person: letters, digits, '-', '_', '.', '@', at most 63 characters")
LABEL_KEY = Pattern(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    "a Kubernetes label key: [prefix/]name, alphanumerics, '-', '_', '.'",
)
LABEL_VALUE = Pattern(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", "a Kubernetes label value: at most 63 alphanumerics, '-', '_', '.'")

Quantity = QUANTITY.type
DnsLabel = DNS_LABEL.type
Hostname = HOSTNAME.type
Cron = CRON.type
GitUrl = GIT_URL.type
Cidr = CIDR.type
Owner = OWNER.type


def _check_image(value: Optional[str]) -> Optional[str]:
    if value is None or "@sha256:" in value:
        return value
    last = value.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError("an image must be pinned by tag or digest, e.g. postgres:17.6")
    if last.rsplit(":", 1)[1] == "latest":
        raise ValueError("an image must be pinned; ':latest' is not allowed")
    return value


@dataclass(frozen=True)
class Words:
    """What a validated type allows, in words, for the generated docs."""

    allowed: str


PinnedImage = Annotated[Optional[str], AfterValidator(_check_image), Words("an image pinned by tag or digest, e.g. postgres:17.6-bookworm")]
