"""Jobs and CronJobs: the pod they run, the one way a Job is built, setup Jobs with their scripts,
and scheduled jobs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.workload.meta import Placement, labels
from components.kubernetes.workload.pods import PLATFORM_GID, PLATFORM_UID, container_security, pod_security, scratch_volume


def job_resources() -> k8s.core.v1.ResourceRequirementsArgs:
    """Setup jobs run a client for seconds."""
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
    )


def batch_pod(
    pod_labels: dict[str, str],
    *,
    service_account: pulumi.Input[str],
    containers: list[k8s.core.v1.ContainerArgs],
    volumes: Optional[list[k8s.core.v1.VolumeArgs]] = None,
    init_containers: Optional[list[k8s.core.v1.ContainerArgs]] = None,
    annotations: Optional[dict[str, pulumi.Input[str]]] = None,
    restart_policy: str = "OnFailure",
    security: Optional[k8s.core.v1.PodSecurityContextArgs] = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The pod of a Job or CronJob: non-root, no API token; the platform image's user unless `security` says otherwise."""
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
        spec=k8s.core.v1.PodSpecArgs(
            restart_policy=restart_policy,
            service_account_name=service_account,
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=security if security is not None else pod_security(PLATFORM_UID, PLATFORM_GID),
            init_containers=init_containers or None,
            containers=containers,
            volumes=volumes or None,
        ),
    )


def run_once_job(
    parent: pulumi.Resource,
    name: str,
    object_name: pulumi.Input[str],
    namespace: pulumi.Input[str],
    pod_labels: dict[str, str],
    pod: k8s.core.v1.PodTemplateSpecArgs,
    *,
    depends_on: list[pulumi.Resource],
    deadline_seconds: int = 900,
    backoff_limit: int = 6,
    ttl_seconds: Optional[int] = None,
) -> k8s.batch.v1.Job:
    """A Job that Pulumi waits for: every Job of the platform is built here. A changed pod template
    (a new annotation checksum or image) replaces it, and so runs it again."""
    return k8s.batch.v1.Job(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=pod_labels),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=backoff_limit, active_deadline_seconds=deadline_seconds, ttl_seconds_after_finished=ttl_seconds,
            template=pod,
        ),
        # The Job has a fixed name, so a changed Job must be deleted before its replacement is created.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on, delete_before_replace=True),
    )


def setup_job(
    parent: pulumi.Resource,
    name: str,
    app: str,
    args: Placement,
    *,
    image: str,
    scripts: dict[str, str],
    command: list[str],
    env: list[k8s.core.v1.EnvVarArgs],
    security: k8s.core.v1.PodSecurityContextArgs,
    service_account: pulumi.Input[str],
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.Job:
    """A Job that configures a data service once it is ready (databases, users, buckets).

    `scripts` are mounted at /setup. They are idempotent; a changed script changes the pod template
    (through its checksum), so Pulumi replaces the Job and the new script runs.
    """
    job_labels = labels(app, args.labels, component="setup")
    config_map = k8s.core.v1.ConfigMap(
        f"{name}-setup-scripts",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-setup", namespace=args.namespace, labels=job_labels),
        data=scripts,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    checksum = hashlib.sha256(json.dumps(scripts, sort_keys=True).encode()).hexdigest()
    container = k8s.core.v1.ContainerArgs(
        name="setup",
        image=image,
        command=command,
        env=env,
        resources=job_resources(),
        security_context=container_security(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/setup", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    scripts_volume = k8s.core.v1.VolumeArgs(
        name="scripts", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name)
    )
    pod = batch_pod(
        job_labels, service_account=service_account, containers=[container], volumes=[scripts_volume, scratch_volume("tmp")],
        annotations={"mlops-stack/scripts-sha256": checksum}, security=security,
    )
    return run_once_job(parent, f"{name}-setup", f"{app}-setup", args.namespace, job_labels, pod, depends_on=depends_on)


def cron_job(
    parent: pulumi.Resource,
    name: str,
    object_name: str,
    namespace: pulumi.Input[str],
    pod_labels: dict[str, str],
    schedule: str,
    pod: k8s.core.v1.PodTemplateSpecArgs,
    *,
    depends_on: list[pulumi.Resource],
) -> k8s.batch.v1.CronJob:
    """A scheduled job in UTC; a run never overlaps the previous one, and a little history is kept."""
    return k8s.batch.v1.CronJob(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=pod_labels),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=schedule,
            time_zone="Etc/UTC",
            concurrency_policy="Forbid",
            starting_deadline_seconds=600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(backoff_limit=2, active_deadline_seconds=3600, template=pod)
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
