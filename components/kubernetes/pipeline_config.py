"""Publishes the pipeline config in the cluster: a ConfigMap and a Secret of the same name.

The content is made by `infra.pipeline_config`; this component only places it. Pipeline pods use
`envFrom` on both, and mount the ConfigMap's files (feature_store.yaml, dvc.config, pipeline.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload import labels


@dataclass(frozen=True)
class PipelineConfigArgs:
    name: str
    namespace: pulumi.Input[str]
    data: pulumi.Input[dict[str, str]]  # nothing secret
    secret_data: pulumi.Input[dict[str, str]]  # published as a Secret, and kept secret in the state
    labels: dict[str, str] = field(default_factory=dict)


class PipelineConfig(pulumi.ComponentResource):
    config_map_name: pulumi.Output[str]
    secret_name: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineConfigArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:PipelineConfig", name, None, opts)
        meta = k8s.meta.v1.ObjectMetaArgs(
            name=args.name, namespace=args.namespace, labels=labels("pipeline-config", args.labels, component="config")
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-configmap", metadata=meta, data=args.data, opts=pulumi.ResourceOptions(parent=self)
        )
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=meta,
            type="Opaque",
            string_data=pulumi.Output.secret(args.secret_data),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.config_map_name = config_map.metadata.name
        self.secret_name = secret.metadata.name
        self.register_outputs({"configMapName": self.config_map_name, "secretName": self.secret_name})
