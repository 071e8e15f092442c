"""What the platform's pods are made of: hardened security contexts, sizes, environment, volumes,
probes, the git-sync container, and the identity and disruption budget of the pods of a service.

Every pod here passes the `restricted` Pod Security Standard: non-root, no privilege escalation,
all capabilities dropped, the runtime's default seccomp profile.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload.meta import labels
from components.specs import GitCheckout
from infra.contract import Size
from mlops_jobs import pipeline_names

# The platform image (images/platform) runs as this non-root user.
PLATFORM_UID = PLATFORM_GID = 10001

# The pipeline config's files, mounted read-only where a pod reads them.
PIPELINE_FILES = pipeline_names.FILES

# The restricted security contexts, written once as plain data (a pod written to a file, such as
# Airflow's task pod template, takes them as they are) and turned into Args for the typed resources.
def pod_security_spec(uid: int, gid: int) -> dict:
    return {
        "fsGroup": gid, "fsGroupChangePolicy": "OnRootMismatch", "runAsGroup": gid, "runAsNonRoot": True,
        "runAsUser": uid, "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_spec() -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True, "runAsNonRoot": True}


def pod_security(uid: int, gid: int) -> k8s.core.v1.PodSecurityContextArgs:
    spec = pod_security_spec(uid, gid)
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=spec["runAsNonRoot"],
        run_as_user=spec["runAsUser"],
        run_as_group=spec["runAsGroup"],
        fs_group=spec["fsGroup"],
        fs_group_change_policy=spec["fsGroupChangePolicy"],
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type=spec["seccompProfile"]["type"]),
    )


def container_security() -> k8s.core.v1.SecurityContextArgs:
    spec = container_security_spec()
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=spec["allowPrivilegeEscalation"],
        read_only_root_filesystem=spec["readOnlyRootFilesystem"],
        run_as_non_root=spec["runAsNonRoot"],
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=spec["capabilities"]["drop"]),
    )


def quantities(size: Size) -> dict[str, dict[str, str]]:
    """A size's requests and limits, as Kubernetes writes them."""
    return {
        "requests": {"cpu": size.cpu, "memory": size.memory},
        "limits": {"cpu": size.cpu_limit, "memory": size.memory_limit},
    }


def resources(size: Size) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(**quantities(size))


def secret_env(name: str, secret_name: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret_name, key=key)
        ),
    )


def pipeline_env_from(name: str) -> list[k8s.core.v1.EnvFromSourceArgs]:
    """Every variable of the pipeline config, from its ConfigMap and its Secret."""
    return [
        k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=name)),
        k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=name)),
    ]


def pipeline_files_volume(name: str, volume: str = "pipeline-config") -> k8s.core.v1.VolumeArgs:
    """The pipeline config's files (feature_store.yaml, pipeline.yaml, dvc.config), mounted read-only."""
    return k8s.core.v1.VolumeArgs(
        name=volume,
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=name, items=[k8s.core.v1.KeyToPathArgs(key=key, path=key) for key in PIPELINE_FILES],
        ),
    )


def scratch_volume(name: str) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))


def empty_dir(name: str, size_limit: str = "1Gi") -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit))


def writable_dirs(*paths: str) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """emptyDir volumes for the few paths a server writes to; the rest of the root file system is read-only."""
    volumes, mounts = [], []
    for index, path in enumerate(paths):
        volume = f"scratch-{index}"
        volumes.append(empty_dir(volume))
        mounts.append(k8s.core.v1.VolumeMountArgs(name=volume, mount_path=path))
    return volumes, mounts


def http_probe(path: str, port: int, *, period: int = 10, failures: int = 3, delay: int = 0,
               host: Optional[str] = None) -> k8s.core.v1.ProbeArgs:
    headers = [k8s.core.v1.HTTPHeaderArgs(name="Host", value=host)] if host else None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port, http_headers=headers),
        initial_delay_seconds=delay or None,
        period_seconds=period,
        timeout_seconds=5,
        failure_threshold=failures,
    )


def startup_probe(probe: k8s.core.v1.ProbeArgs, seconds: int = 300) -> k8s.core.v1.ProbeArgs:
    """The same check, allowed `seconds` to pass first (migrations and imports take a while)."""
    return k8s.core.v1.ProbeArgs(
        http_get=probe.http_get, exec_=probe.exec_, tcp_socket=probe.tcp_socket,
        period_seconds=5, timeout_seconds=5, failure_threshold=seconds // 5,
    )


def exec_probe(command: list[str], *, period: int = 30, timeout: int = 20, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(command=command),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
    )


def git_sync_resources() -> dict[str, dict[str, str]]:
    return {"limits": {"cpu": "200m", "memory": "256Mi"}, "requests": {"cpu": "10m", "memory": "32Mi"}}


def git_sync_env(source: GitCheckout, *, root: str, one_time: bool, period_seconds: int = 60) -> list[dict[str, str]]:
    """git-sync v4's settings: checks `source.git` at `source.ref` out into `root`, linked as `<root>/current`."""
    return [
        {"name": "GITSYNC_REPO", "value": source.git},
        {"name": "GITSYNC_REF", "value": source.ref},
        {"name": "GITSYNC_ROOT", "value": root},
        {"name": "GITSYNC_LINK", "value": "current"},
        {"name": "GITSYNC_DEPTH", "value": "1"},
        {"name": "GITSYNC_PERIOD", "value": f"{period_seconds}s"},
        {"name": "GITSYNC_ONE_TIME", "value": "true" if one_time else "false"},
    ]


def git_sync_container(
    image: str, source: GitCheckout, *, root: str, one_time: bool, period_seconds: int = 60,
    restart_policy: Optional[str] = None,
) -> k8s.core.v1.ContainerArgs:
    """git-sync into the `source` volume at `root`. `restart_policy="Always"` makes it a native sidecar
    (an init container that keeps running and pulls new commits)."""
    env_from = None
    if source.credentials_secret:
        env_from = [k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=source.credentials_secret))]
    return k8s.core.v1.ContainerArgs(
        name="git-sync",
        image=image,
        env=[k8s.core.v1.EnvVarArgs(**var) for var in git_sync_env(source, root=root, one_time=one_time, period_seconds=period_seconds)],
        env_from=env_from,
        resources=k8s.core.v1.ResourceRequirementsArgs(**git_sync_resources()),
        security_context=container_security(),
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="source", mount_path=root)],
        restart_policy=restart_policy,
    )


def git_sync_spec(image: str, source: GitCheckout, *, root: str, one_time: bool) -> dict:
    """git_sync_container as plain data, for a pod written to a file."""
    spec: dict = {"name": "git-sync", "env": git_sync_env(source, root=root, one_time=one_time)}
    if source.credentials_secret:
        spec["envFrom"] = [{"secretRef": {"name": source.credentials_secret}}]
    spec.update({
        "image": image,
        "resources": git_sync_resources(),
        "securityContext": container_security_spec(),
        "volumeMounts": [{"mountPath": root, "name": "source"}],
    })
    return spec


def service_account(
    parent: pulumi.Resource, name: str, app: str, namespace: pulumi.Input[str], extra_labels: dict[str, str],
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
) -> k8s.core.v1.ServiceAccount:
    """The service's own identity. No API token is mounted unless a pod asks for one (Airflow's executor).

    `annotations` bind it to a cloud identity (an IAM role on EKS, a managed identity on AKS)."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=app, namespace=namespace, labels=labels(app, extra_labels), annotations=dict(annotations) if annotations else None
        ),
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def disruption_budget(
    parent: pulumi.Resource, name: str, object_name: str, namespace: pulumi.Input[str], match: dict[str, str],
    meta_labels: dict[str, str], replicas: int,
) -> Optional[k8s.policy.v1.PodDisruptionBudget]:
    """A replicated service loses at most one pod at a time to node drains and upgrades."""
    if replicas < 2:
        return None
    return k8s.policy.v1.PodDisruptionBudget(
        f"{name}-disruption-budget",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=meta_labels),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match)
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
