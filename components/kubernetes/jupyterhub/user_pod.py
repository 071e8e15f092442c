"""What a user server is: its pod template and the hub's settings for it, as plain data.

The template is what a task pod gets (the pipeline config's env and files, the pipelines' cloud
identity through its service account), so a notebook sees the platform exactly as a pipeline does.
Kubeflow injects the same with a mutating webhook; here the spawner's pod spec carries it.
"""

from __future__ import annotations

from typing import Optional

from components.kubernetes import workload
from components.specs import ServerProfile
from mlops_jobs import pipeline_names

APP = "jupyterhub"
COMPONENT = "singleuser-server"
# In the pipelines namespace: the user servers' account, bound to the pipelines' cloud identity.
USER_SERVICE_ACCOUNT = "notebook-user"
USER_PORT = 8888
HOME = "/home/mlops"  # the notebook image's HOME (images/notebook/Dockerfile)
HOME_VOLUME = "home"
# KubeSpawner fills {username}; one claim per user, kept when the server stops.
CLAIM_NAME = "notebook-home-{username}"
START_TIMEOUT_SECONDS = 600


def user_labels(extra: dict[str, str]) -> dict[str, str]:
    return workload.labels(APP, extra, COMPONENT)


def pod_template(*, namespace: str, image: str, pipeline_config: str, profile: ServerProfile, labels: dict[str, str]) -> dict:
    """The user server's Pod, sized by the default profile. Its container must stay the first."""
    volumes = [
        {"name": "pipeline-config", "configMap": {"name": pipeline_config, "items": [
            {"key": k, "path": k} for k in workload.PIPELINE_FILES]}},
        {"name": HOME_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        # DVC keeps its per-repository state under /var/tmp/dvc; the root file system is read-only.
        {"name": "var-tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts = [
        {"name": "pipeline-config", "mountPath": pipeline_names.CONFIG_MOUNT, "readOnly": True},
        {"name": HOME_VOLUME, "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "var-tmp", "mountPath": "/var/tmp"},
    ]
    container = {
        "name": "notebook",
        "image": image,
        "command": ["jupyterhub-singleuser"],
        "ports": [{"name": "http", "containerPort": USER_PORT}],
        "envFrom": [{"configMapRef": {"name": pipeline_config}}, {"secretRef": {"name": pipeline_config}}],
        "env": [
            # Feast's CLI finds the mounted feature_store.yaml as a task pod's does.
            {"name": "FEAST_FS_YAML_FILE_PATH", "value": f"{pipeline_names.CONFIG_MOUNT}/{pipeline_names.FEATURE_STORE_YAML}"},
            {"name": "HOME", "value": HOME},
        ],
        "resources": workload.quantities(profile.size),
        "securityContext": workload.container_security_spec(),
        "volumeMounts": mounts,
    }
    spec = {
        "serviceAccountName": USER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "OnFailure",
        "securityContext": workload.pod_security_spec(workload.PLATFORM_UID, workload.PLATFORM_GID),
        "containers": [container],
        "volumes": volumes,
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "labels": user_labels(labels)}, "spec": spec}


def profile_override(profile: ServerProfile) -> dict:
    """KubeSpawner's settings for one profile: requests and limits, and the GPU nodes' placement."""
    override: dict = {
        "cpu_guarantee": _cpus(profile.size.cpu), "cpu_limit": _cpus(profile.size.cpu_limit),
        "mem_guarantee": _bytes(profile.size.memory), "mem_limit": _bytes(profile.size.memory_limit),
    }
    if profile.gpus:
        override["extra_resource_limits"] = {profile.gpu_resource: str(profile.gpus)}
    if profile.node_selector:
        override["node_selector"] = dict(profile.node_selector)
    if profile.tolerations:
        override["tolerations"] = [dict(t) for t in profile.tolerations]
    return override


# Kubernetes' suffixes; KubeSpawner reads bytes exactly (its own K, M, G are binary, Kubernetes' decimal).
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _bytes(quantity: str) -> int:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * _UNITS[suffix])
    return int(float(quantity))


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def hub_settings(
    *, hub_connect_url: str, proxy_api_url: str, admins: tuple[str, ...], users: tuple[str, ...],
    cull_idle_seconds: int, storage: str, storage_class: Optional[str], profiles: tuple[ServerProfile, ...],
) -> dict:
    """hub.yaml: what jupyterhub_config.py reads besides the pod template."""
    return {
        "hubConnectUrl": hub_connect_url,
        "proxyApiUrl": proxy_api_url,
        "admins": list(admins),
        "users": list(users),
        "cullIdleSeconds": cull_idle_seconds,
        "startTimeoutSeconds": START_TIMEOUT_SECONDS,
        "storage": {"volume": HOME_VOLUME, "claimName": CLAIM_NAME, "capacity": storage, "className": storage_class},
        "profiles": [{"name": p.name, "description": p.description, "override": profile_override(p)} for p in profiles],
    }
