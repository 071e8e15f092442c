"""Building blocks shared by the Kubernetes components, by what they build:

- meta: labels, selectors, DNS names, where objects go;
- pods: hardened security contexts, sizes, environment, volumes, probes, git-sync, service accounts;
- stateful: the data services' StatefulSet and Services, passwords and credentials;
- applications: the servers' Deployment, Service and Ingress;
- jobs: Jobs (one builder for all of them), setup Jobs and CronJobs.

The names are re-exported here, so a component writes `workload.deployment(...)`.
"""

from components.kubernetes.workload.applications import (
    SKIP_AWAIT, AppArgs, cluster_service, deployment, ingress, object_name_of, service_url,
)
from components.kubernetes.workload.jobs import batch_pod, cron_job, job_resources, run_once_job, setup_job
from components.kubernetes.workload.meta import PART_OF, Placement, labels, selector, service_dns
from components.kubernetes.workload.pods import (
    PIPELINE_FILES, PLATFORM_GID, PLATFORM_UID, container_security, container_security_spec, disruption_budget,
    empty_dir, exec_probe, git_sync_container, git_sync_env, git_sync_resources, git_sync_spec, http_probe,
    pipeline_env_from, pipeline_files_volume, pod_security, pod_security_spec, quantities, resources,
    scratch_volume, secret_env, service_account, startup_probe, writable_dirs,
)
from components.kubernetes.workload.stateful import (
    StatefulServiceArgs, credentials_secret, data_volume_claim, database_url, password, stateful_workload,
    volume_retention,
)

__all__ = [
    "AppArgs", "PART_OF", "PIPELINE_FILES", "PLATFORM_GID", "PLATFORM_UID", "Placement", "SKIP_AWAIT",
    "StatefulServiceArgs", "batch_pod", "cluster_service", "container_security", "container_security_spec",
    "credentials_secret", "cron_job", "data_volume_claim", "database_url", "deployment", "disruption_budget",
    "empty_dir", "exec_probe", "git_sync_container", "git_sync_env", "git_sync_resources", "git_sync_spec",
    "http_probe", "ingress", "job_resources", "labels", "object_name_of", "password", "pipeline_env_from",
    "pipeline_files_volume", "pod_security", "pod_security_spec", "quantities", "resources", "run_once_job",
    "scratch_volume", "secret_env", "selector", "service_account", "service_dns", "service_url", "setup_job",
    "stateful_workload", "startup_probe", "volume_retention", "writable_dirs",
]
