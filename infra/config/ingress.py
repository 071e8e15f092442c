"""The optional Ingress in front of a UI (MLflow, Airflow, the notebooks hub), and its check."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from .errors import Problems
from .types import DnsLabel, Hostname, InputModel


class IngressConfig(InputModel):
    """An Ingress in front of a UI; off by default (reach it with `kubectl port-forward`)."""

    enabled: bool = Field(False, description="Create an Ingress")
    host: Optional[Hostname] = Field(None, description="Host name the Ingress serves, e.g. mlflow.example.com")
    class_name: Optional[str] = Field(None, description="IngressClass; the cluster default if unset")
    tls_secret: Optional[DnsLabel] = Field(None, description="Secret with the TLS certificate for host")


def check_ingress(key: str, given: IngressConfig, problems: Problems) -> IngressConfig:
    if given.enabled and not given.host:
        problems.missing(f"{key}.host", "the host name the Ingress serves, when enabled is true")
    return given
