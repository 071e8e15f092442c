"""`mlops-stack render`: the real program for one stack file under mocks, written out as files.

DIR/manifests/<namespace>--<kind>--<name>.yaml   every Kubernetes object (Secret values REDACTED)
DIR/pipeline/feature_store.yaml, pipeline.env, pipeline.yaml, dvc.config   (secrets REDACTED)
DIR/resources.json   every resource: type, name, parent, inputs, protect, depends_on (secrets redacted)
DIR/inventory.md     counts by type and a Mermaid diagram of the services and their connections
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from infra import pipeline_config
from mlops_stack import offline
from infra.contract import REDACTED
from mlops_stack.offline import Recording, RecordedResource

CLUSTER_SCOPED = "_cluster"


def render_stack(stack: str, out: Path, root: Path = offline.REPO_ROOT) -> Recording:
    recording = offline.run(stack, offline.stack_config(stack, root))
    if out.exists():
        shutil.rmtree(out)
    (out / "manifests").mkdir(parents=True)
    (out / "pipeline").mkdir()
    for manifest in manifests(recording):
        (out / "manifests" / manifest_filename(manifest)).write_text(yaml.safe_dump(manifest, sort_keys=False))
    for filename, content in pipeline_files(recording).items():
        (out / "pipeline" / filename).write_text(content)
    (out / "resources.json").write_text(json.dumps(resources(recording), indent=2, sort_keys=True) + "\n")
    (out / "inventory.md").write_text(inventory(recording))
    return recording


def manifests(recording: Recording) -> list[dict[str, Any]]:
    return sorted((manifest(r) for r in recording.kubernetes_objects()), key=manifest_filename)


def manifest(resource: RecordedResource) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    if inputs.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if key in inputs:
                values = inputs[key]
                values = values["value"] if offline.is_secret_value(values) else values
                inputs[key] = {k: REDACTED for k in values}
    body = offline.redact(inputs)
    ordered = {"apiVersion": body.pop("apiVersion"), "kind": body.pop("kind"), "metadata": body.pop("metadata")}
    return {**ordered, **body}


def manifest_filename(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return f"{meta.get('namespace') or CLUSTER_SCOPED}--{manifest['kind'].lower()}--{meta['name']}.yaml"


def pipeline_files(recording: Recording) -> dict[str, str]:
    """The pipeline config as a pipeline sees it, with every secret value REDACTED."""
    public = offline.resolved(recording.result.public)
    redacted_secrets = {key: REDACTED for key in offline.resolved(recording.result.complete).secret_env}
    return {
        pipeline_config.FEATURE_STORE_YAML: public.files[pipeline_config.FEATURE_STORE_YAML],
        pipeline_config.PIPELINE_YAML: public.files[pipeline_config.PIPELINE_YAML],
        pipeline_config.DVC_CONFIG: public.files[pipeline_config.DVC_CONFIG],
        pipeline_config.DOTENV: pipeline_config.dotenv({**public.env, **redacted_secrets}),
    }


def resources(recording: Recording) -> list[dict[str, Any]]:
    """One entry per resource; `depends_on` holds explicit dependencies and those feeding its inputs."""
    return sorted(
        (
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "inputs": offline.redact(r.inputs),
                "protect": r.protect,
                "depends_on": r.dependencies,
            }
            for r in recording.resources
        ),
        key=lambda entry: entry["urn"],
    )


# The services of the platform, and which of them each one connects to (for the inventory diagram).
SERVICE_TYPES = {
    "mlops:kubernetes:Postgres": "PostgreSQL",
    "mlops:kubernetes:Redis": "Redis",
    "mlops:kubernetes:Minio": "MinIO",
    "mlops:kubernetes:Seaweedfs": "SeaweedFS",
    "mlops:kubernetes:Mlflow": "MLflow",
    "mlops:kubernetes:Feast": "Feast",
    "mlops:kubernetes:Evidently": "Evidently",
    "mlops:kubernetes:Airflow": "Airflow",
    "mlops:aws:RdsPostgres": "PostgreSQL",
    "mlops:aws:ElastiCache": "Redis",
    "mlops:aws:PrivateBucket": "S3",
    "mlops:aws:SageMakerMlflow": "MLflow",
    "mlops:aws:Mwaa": "Airflow",
    "mlops:azure:FlexiblePostgres": "PostgreSQL",
    "mlops:azure:RedisCache": "Redis",
    "mlops:azure:ManagedRedis": "Redis",
    "mlops:azure:DataLake": "ADLS",
    "mlops:azure:MachineLearningWorkspace": "MLflow",
    # Model endpoints, in the cluster or managed; a label is also the diagram's node id (one word).
    "mlops:kubernetes:ModelEndpoint": "Serving",
    "mlops:aws:SageMakerEndpoint": "Serving",
    "mlops:azure:OnlineEndpoint": "Serving",
}
DATA_SERVICES = {"PostgreSQL", "Redis", "MinIO", "SeaweedFS", "S3", "ADLS"}


def inventory(recording: Recording) -> str:
    counts = Counter(r.type for r in recording.resources)
    lines = [f"# Inventory of stack `{recording.stack}`", "", f"{len(recording.resources)} resources.", ""]
    lines += ["| type | count |", "|---|---|"]
    lines += [f"| `{type_}` | {count} |" for type_, count in sorted(counts.items())]
    components = [r for r in recording.resources if r.type in SERVICE_TYPES]
    services = {r.urn: SERVICE_TYPES[r.type] for r in components}
    config_nodes = [r for r in recording.resources if r.type == "mlops:kubernetes:PipelineConfig"]
    lines += ["", "## Services and what they connect to", "", "```mermaid", "flowchart LR"]
    lines.append('  pipelines["pipelines (read mlops-pipeline-config)"]')
    lines.append(f'  config["ConfigMap + Secret {pipeline_config.NAME}"]')
    for label in sorted(set(services.values())):
        shape = f'[("{label}")]' if label in DATA_SERVICES else f'["{label}"]'
        lines.append(f"  {label.lower()}{shape}")
    edges: set[str] = set()
    for component in components:
        for dependency in _dependencies_through_children(recording, component):
            if dependency in services and dependency != component.urn:
                edges.add(f"  {services[component.urn].lower()} --> {services[dependency].lower()}")
    for node in config_nodes:
        for dependency in _dependencies_through_children(recording, node):
            if dependency in services:
                edges.add(f"  {services[dependency].lower()} -. endpoints .-> config")
    lines += sorted(edges)
    lines.append("  config --> pipelines")
    for label in sorted(set(services.values())):
        lines.append(f"  pipelines --> {label.lower()}")
    lines += ["```", ""]
    return "\n".join(lines)


def _dependencies_through_children(recording: Recording, component: RecordedResource) -> set[str]:
    """URNs of the components (and resources) that a component's children depend on."""
    children = [r for r in recording.resources if r.parent == component.urn]
    parents = {r.urn: r.parent for r in recording.resources}
    found: set[str] = set()
    for child in children:
        for dependency in child.dependencies:
            while dependency:
                found.add(dependency)
                dependency = parents.get(dependency, "")
    return found
