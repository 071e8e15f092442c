"""`mlops-stack smoke STACK`: the post-deploy check on demand, as a new Job in the stack's cluster.

The Job is the one `pulumi up` runs (rendered offline from the stack's config), under a name of its
own; its log is streamed here, and the exit status is the check's.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from mlops_stack import offline, render


class SmokeError(RuntimeError):
    """The check could not run (no Job in the stack, no pod); the message says why."""


def job_manifest(stack: str, root: Path = offline.REPO_ROOT, now: Optional[datetime] = None) -> dict[str, Any]:
    recording = offline.run(stack, offline.stack_config(stack, root))
    jobs = [r for r in recording.resources if r.type == "kubernetes:batch/v1:Job" and r.name == "smoke-job"]
    if not jobs:
        raise SmokeError(f"stack {stack} has no smoke check: set mlops:smoke.enabled to true (the default)")
    manifest = render.manifest(jobs[0])
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    manifest["metadata"]["name"] = f"mlops-smoke-manual-{stamp}"
    return manifest


def run(manifest: dict[str, Any], batch, core, out: TextIO, *, timeout: float = 900,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Create the Job, stream its pod's log to `out`, and return 0 when the check passed, else 1."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    batch.create_namespaced_job(namespace, manifest)
    out.write(f"job {namespace}/{name} created\n")
    deadline = time.monotonic() + timeout
    pod = None
    while pod is None:
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        running = [p for p in pods if p.status.phase in ("Running", "Succeeded", "Failed")]
        if running:
            pod = running[0].metadata.name
        elif time.monotonic() > deadline:
            raise SmokeError(f"job {namespace}/{name}: no pod started within {timeout:.0f} s (kubectl -n {namespace} describe job {name})")
        else:
            sleep(2)
    for chunk in core.read_namespaced_pod_log(pod, namespace, follow=True, _preload_content=False).stream():
        out.write(chunk.decode() if isinstance(chunk, bytes) else chunk)
    while True:
        status = batch.read_namespaced_job_status(name, namespace).status
        if status.succeeded:
            return 0
        if status.failed:
            return 1
        if time.monotonic() > deadline:
            raise SmokeError(f"job {namespace}/{name} did not finish within {timeout:.0f} s")
        sleep(2)


def clients(kubeconfig: Optional[str], context: Optional[str]):
    from kubernetes import client, config

    config.load_kube_config(config_file=kubeconfig, context=context)
    return client.BatchV1Api(), client.CoreV1Api()
