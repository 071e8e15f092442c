"""What every backend builds in its Kubernetes cluster before the services: the provider, the two
namespaces and the NetworkPolicies. The ensemble (stacks/ensemble.py) and the clouds' cluster half
(stacks/managed_cluster.py) both take them from here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.namespaces import Namespaces, NamespacesArgs
from components.kubernetes.network_policies import Admission, NetworkPolicies, NetworkPoliciesArgs
from infra.config import StackConfig


@dataclass(frozen=True)
class ClusterBase:
    provider: k8s.Provider
    namespaces: Namespaces

    @property
    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=[self.provider])


def base(cfg: StackConfig, kubeconfig: Optional[pulumi.Input[str]] = None) -> ClusterBase:
    """The provider (a stack's cluster.kubeconfig wins over the one the cloud gives) and the namespaces."""
    provider = k8s.Provider(
        "kubernetes",
        kubeconfig=os.path.expanduser(cfg.cluster.kubeconfig) if cfg.cluster.kubeconfig else kubeconfig,
        context=cfg.cluster.context,
    )
    namespaces = Namespaces(
        "namespaces",
        NamespacesArgs(
            platform=cfg.namespaces.platform, pipelines=cfg.namespaces.pipelines, labels=cfg.labels,
            create=cfg.namespaces.create, protect=cfg.protect,
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    return ClusterBase(provider, namespaces)


def network_policies(cfg: StackConfig, target: ClusterBase, admissions: Sequence[Admission]) -> NetworkPolicies:
    """Default deny in both namespaces, and the admissions: who may reach which service on which port."""
    return NetworkPolicies(
        "network-policies",
        NetworkPoliciesArgs(
            platform_namespace=target.namespaces.platform, pipelines_namespace=target.namespaces.pipelines,
            admissions=tuple(admissions), labels=cfg.labels,
        ),
        opts=target.opts,
    )
