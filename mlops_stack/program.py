"""The Pulumi program: validated config → backend → PlatformEndpoints → published pipeline config."""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass

import pulumi

from components.kubernetes.pipeline_config import PipelineConfig as PublishedPipelineConfig
from components.kubernetes.pipeline_config import PipelineConfigArgs
from infra import config, pipeline_config, warehouse_clients
from components.kubernetes.smoke import SmokeCheck, SmokeCheckArgs
from infra.config import StackConfig
from infra.contract import PlatformEndpoints, resolve

@dataclass(frozen=True)
class ProgramResult:
    endpoints: PlatformEndpoints
    public: pulumi.Output[pipeline_config.PipelineConfig]  # secrets REDACTED, not a secret Output
    complete: pulumi.Output[pipeline_config.PipelineConfig]  # a secret Output


def build(cfg: StackConfig) -> ProgramResult:
    # Each backend's assembly is imported only when a stack selects it (config.Backend names them
    # all), so a stack never loads a cloud SDK it does not use.
    backend = importlib.import_module(f"stacks.{cfg.backend.value}")
    endpoints: PlatformEndpoints = backend.build(cfg)

    public = resolve(endpoints, with_secrets=False).apply(pipeline_config.render)
    complete = pulumi.Output.secret(resolve(endpoints, with_secrets=True).apply(pipeline_config.render))
    # Pipelines read it in their namespace; the platform's own servers and jobs (Feast, Airflow,
    # Evidently, MLflow) read the same config in theirs.
    published = []
    for resource_name, namespace in (
        ("pipeline-config", endpoints.kubernetes.pipelines_namespace),
        ("platform-pipeline-config", endpoints.kubernetes.platform_namespace),
    ):
        published.append(PublishedPipelineConfig(
            resource_name,
            PipelineConfigArgs(
                name=pipeline_config.NAME,
                namespace=namespace,
                data=public.apply(lambda c: c.config_map_data()),
                secret_data=complete.apply(lambda c: c.secret_data()),
                labels=cfg.labels,
            ),
            opts=pulumi.ResourceOptions(providers=[endpoints.kubernetes.provider]),
        ))

    if cfg.smoke.enabled:
        # The last step of every `up`: a check of every service, through the pipeline config.
        SmokeCheck(
            "smoke",
            SmokeCheckArgs(
                namespace=endpoints.kubernetes.pipelines_namespace,
                image=cfg.jobs_image,
                config_checksum=public.apply(lambda c: hashlib.sha256(json.dumps(c.config_map_data(), sort_keys=True).encode()).hexdigest()),
                timeout_seconds=cfg.smoke.timeout_seconds,
                pipeline_config=pipeline_config.NAME,
                skip_endpoints=tuple(e.name for e in cfg.serving.endpoints if not e.await_ready),
                requests={e.name: e.smoke_request for e in cfg.serving.endpoints if e.smoke_request is not None},
                labels=cfg.labels,
                service_account_annotations=endpoints.kubernetes.pipeline_identity,
                depends_on=(*endpoints.ready, *published),
            ),
            opts=pulumi.ResourceOptions(providers=[endpoints.kubernetes.provider]),
        )

    pulumi.export("environment", cfg.environment.value)
    pulumi.export("backend", cfg.backend.value)
    pulumi.export("namespaces", {"platform": cfg.namespaces.platform, "pipelines": cfg.namespaces.pipelines})
    pulumi.export("pipelineConfig", public.apply(lambda c: {"env": c.env, "files": c.files}))
    pulumi.export("pipelineSecretEnv", complete.apply(lambda c: c.secret_env))
    pulumi.export("pipelineDotenv", complete.apply(lambda c: c.dotenv))
    # The live traffic split of every model endpoint, next to its URL.
    pulumi.export("serving", resolve(endpoints, with_secrets=False).apply(pipeline_config.serving_summary))
    notebooks = endpoints.notebooks
    pulumi.export("notebooks", {"kind": notebooks.kind, "url": notebooks.url, "users": list(notebooks.users)} if notebooks else None)
    # What BI tools connect with: the readers' passwords are secret.
    pulumi.export("warehouse", warehouse_clients.stack_output(endpoints.warehouse))
    pulumi.export("services", public.apply(lambda c: {
        "mlflow": c.env["MLFLOW_TRACKING_URI"],
        "feast": c.env["MLOPS_FEAST_URL"],
        "airflow": c.env["MLOPS_AIRFLOW_URL"],
        "evidently": c.env["MLOPS_EVIDENTLY_URL"],
    }))
    return ProgramResult(endpoints=endpoints, public=public, complete=complete)


def main() -> ProgramResult:
    """Entry point of `__main__.py`: read this stack's config and build it."""
    return build(config.from_pulumi())
