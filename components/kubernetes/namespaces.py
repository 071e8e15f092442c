"""The platform's namespaces: one for the services, one where pipelines run and read their config."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload import PART_OF

# Every workload of the platform passes the `restricted` Pod Security Standard; enforce it.
POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True)
class NamespacesArgs:
    platform: str
    pipelines: str
    labels: dict[str, str] = field(default_factory=dict)
    # False: the namespaces exist already (created by a cluster admin); they are only referenced.
    create: bool = True
    # Deleting a namespace deletes everything in it, volumes' claims included.
    protect: bool = False


class Namespaces(pulumi.ComponentResource):
    platform: pulumi.Output[str]
    pipelines: pulumi.Output[str]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:Namespaces", name, None, opts)
        if args.create:
            self.platform = self._namespace(f"{name}-platform", args.platform, args).metadata.name
            self.pipelines = self._namespace(f"{name}-pipelines", args.pipelines, args).metadata.name
        else:
            self.platform = pulumi.Output.from_input(args.platform)
            self.pipelines = pulumi.Output.from_input(args.pipelines)
        self.register_outputs({"platform": self.platform, "pipelines": self.pipelines})

    def _namespace(self, resource_name: str, namespace: str, args: NamespacesArgs) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={**args.labels, **POD_SECURITY, "app.kubernetes.io/part-of": PART_OF},
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
