"""NetworkPolicies: no ingress by default in the platform and pipelines namespaces, then one rule per
server saying exactly who may reach it. Egress is not restricted (the clouds' endpoints vary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload import labels

NAME_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Admission:
    """Who may open connections to the pods of `app` on `ports`."""

    app: str
    ports: tuple[int, ...]
    component: Optional[str] = None  # only the pods of this component (e.g. Airflow's api-server)
    from_apps: tuple[str, ...] = ()  # pods of these services in the platform namespace
    from_pipelines: bool = False  # every pod of the pipelines namespace (Airflow tasks, pipelines)
    from_anywhere: bool = False  # any pod of any namespace (an Ingress controller in front of a UI)
    role: Optional[str] = None  # names the policy when an app has several (its peers' ports)

    def __post_init__(self) -> None:
        # A rule with no sources renders `from: []`, which Kubernetes reads as "from everywhere".
        if not (self.from_apps or self.from_pipelines or self.from_anywhere):
            raise ValueError(f"the admission to {self.app} names no source: set from_apps, from_pipelines or from_anywhere")
        if not self.ports:
            raise ValueError(f"the admission to {self.app} names no port")


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    platform_namespace: pulumi.Input[str]
    pipelines_namespace: pulumi.Input[str]
    admissions: tuple[Admission, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def namespace_selector(namespace: pulumi.Input[str]) -> k8s.meta.v1.LabelSelectorArgs:
    # Every namespace carries its name as this label (Kubernetes ≥ 1.22).
    return k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace})


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:kubernetes:NetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        meta_labels = labels("network-policy", args.labels, component="security")
        for role, namespace in (("platform", args.platform_namespace), ("pipelines", args.pipelines_namespace)):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{role}-default-deny",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny-ingress", namespace=namespace, labels=meta_labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]),
                opts=child,
            )
        for admission in args.admissions:
            peers: list[k8s.networking.v1.NetworkPolicyPeerArgs] = []
            if admission.from_anywhere:
                peers.append(k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs()))
            if admission.from_apps:
                peers.append(k8s.networking.v1.NetworkPolicyPeerArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                        k8s.meta.v1.LabelSelectorRequirementArgs(key=NAME_LABEL, operator="In", values=sorted(admission.from_apps))
                    ])
                ))
            if admission.from_pipelines:
                peers.append(k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=namespace_selector(args.pipelines_namespace)))
            selector = {NAME_LABEL: admission.app}
            if admission.component:
                selector["app.kubernetes.io/component"] = admission.component
            object_name = "-".join(part for part in (admission.app, admission.component, admission.role) if part)
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{object_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"allow-{object_name}", namespace=args.platform_namespace, labels=meta_labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    policy_types=["Ingress"],
                    ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=peers,
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in admission.ports],
                    )],
                ),
                opts=child,
            )
        self.register_outputs({})
