"""`python -m bench`: what decides the time to a ready platform and the time a preview takes.

Prints, per shipped stack:
1. evaluation cost: wall time and peak RSS of the offline render (the program under mocks, as a
   preview evaluates it), median of 5 runs, against importing the SDK classes of the resources it creates;
2. the critical path of the deployment and the unavoidable chain (bench/graph.py);
3. resource count and preview size (bytes of resources.json and of the rendered manifests);
4. each image's size, and each workload's time from `docker run` to ready under its rendered pod
   spec, with its peak memory (bench/containers.py; needs the Docker engine and the built images).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import containers, graph
from mlops_stack import offline, render

REPO = offline.REPO_ROOT
# What a preview evaluates: the program's entry point, __main__.py, under the mocks instead of the engine.
EVALUATE = """
import runpy, sys
from mlops_stack import offline
offline.run({stack!r}, offline.stack_config({stack!r}), lambda: runpy.run_path({main!r}))
print(sorted({{m.split('.')[0] for m in sys.modules if m.startswith('pulumi_')}}))
"""


def measure_rss(codes: list[str], runs: int) -> list[tuple[float, float, str]]:
    """Median wall seconds and median peak RSS (MB) of `python -c code` for each of `codes`, and its last
    output line. The codes run in turn within each round, so a slower spell of the machine weighs on
    all of them alike and their ratio holds.

    The peak comes from GNU time, which forks the interpreter from its own small process: a child
    forked from this (large) process would report this process's pages as its own peak.
    """
    walls: list[list[float]] = [[] for _ in codes]
    peaks: list[list[float]] = [[] for _ in codes]
    last = [""] * len(codes)
    # As a user's interpreter runs: bytecode cached (this machine sets PYTHONDONTWRITEBYTECODE), and one
    # round first that is not counted, which writes it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for attempt in range(runs + 1):
        for index, code in enumerate(codes):
            start = time.perf_counter()
            result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-c", code],
                                    cwd=REPO, capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - start
            if result.returncode:
                raise RuntimeError(result.stderr[-2000:])
            if attempt == 0:
                continue
            walls[index].append(elapsed)
            peaks[index].append(int(result.stderr.strip().splitlines()[-1].split("=")[1]) / 1024)
            last[index] = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return [(statistics.median(w), statistics.median(p), line) for w, p, line in zip(walls, peaks, last)]


SDKS = {"kubernetes": "pulumi_kubernetes", "random": "pulumi_random", "aws": "pulumi_aws", "azure-native": "pulumi_azure_native"}


def sdk_class(type_token: str) -> str | None:
    """The Python class of a resource type, as a dotted path: `aws:ec2/vpc:Vpc` -> `pulumi_aws.ec2.Vpc`."""
    package, module, kind = (type_token.split(":") + ["", ""])[:3]
    if package not in SDKS or not kind:
        return None
    sdk = SDKS[package]
    if package == "kubernetes":
        if "/" not in module:  # yaml/v2:ConfigFile and the like
            module = module.replace("/", ".")
        group, _, version = module.partition("/")
        group = {"core": "core", "apps": "apps", "batch": "batch"}.get(group, group.split(".")[0].replace("-", "_"))
        if not importlib.util.find_spec(f"{sdk}.{group}"):
            return f"{sdk}.apiextensions.CustomResource"  # custom resources (Gateway API)
        return f"{sdk}.{group}.{version}.{kind}" if version else f"{sdk}.{group}.{kind}"
    service = module.split("/")[0].replace("-", "_")
    return f"{sdk}.{kind}" if service == "index" else f"{sdk}.{service}.{kind}"


def sdk_imports(resources: list[dict]) -> str:
    """The baseline: importing the SDK classes of every resource type the stack creates. The SDKs load
    one module per class on first use, so a bare `import pulumi_aws` would leave that cost to the program."""
    classes = sorted({c for c in (sdk_class(row["type"]) for row in resources) if c})
    modules = sorted({"pulumi"} | {c.rsplit(".", 1)[0] for c in classes})
    return "\n".join([f"import {', '.join(modules)}", *(f"{c}" for c in classes), "print('')"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", nargs="*", default=offline.shipped_stacks())
    parser.add_argument("--container-stacks", nargs="*", default=["local", "staging"],
                        help="stacks whose workloads run as containers (those the integration tests run); none skips it")
    args = parser.parse_args(argv)

    rows, paths = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in args.stacks:
            out = Path(tmp) / stack
            render.render_stack(stack, out)
            resources = json.loads((out / "resources.json").read_text())
            (render_wall, render_peak, loaded), (import_wall, import_peak, _) = measure_rss(
                [EVALUATE.format(stack=stack, main=str(REPO / "__main__.py")), sdk_imports(resources)], args.runs)
            deployment = graph.load(out / "resources.json")
            critical, unavoidable = deployment.longest(), deployment.longest(essential_only=True)
            manifests = sum(p.stat().st_size for p in (out / "manifests").glob("*.yaml"))
            rows.append({
                "stack": stack, "render_s": render_wall, "import_s": import_wall, "ratio": render_wall / import_wall,
                "peak_mb": render_peak, "import_peak_mb": import_peak, "sdks": loaded,
                "critical_s": critical.seconds, "unavoidable_s": unavoidable.seconds,
                "path_ratio": critical.seconds / unavoidable.seconds,
                "resources": len(resources), "objects": len(list((out / "manifests").glob("*.yaml"))),
                "resources_json_kb": (out / "resources.json").stat().st_size / 1024, "manifests_kb": manifests / 1024,
                "deadlocks": deployment.readiness_deadlocks(),
            })
            paths.append((stack, critical, unavoidable))

    print(f"## Evaluation cost (median of {args.runs} runs; targets: ratio ≤ 1.5 for the largest stack, peak ≤ 300 MB)\n")
    print("The program under mocks (what a preview evaluates) against importing the SDK class of every resource type it creates.\n")
    print("| stack | program | SDK import | ratio | peak RSS | SDK import RSS | SDKs loaded |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stack']} | {r['render_s']:.2f} s | {r['import_s']:.2f} s | {r['ratio']:.2f} | {r['peak_mb']:.0f} MB | {r['import_peak_mb']:.0f} MB | {r['sdks']} |")
    print(f"\n## Deployment critical path (typical creation times: bench/creation_times.yaml; target ≤ {graph.TARGET_RATIO} × unavoidable)\n")
    print("| stack | critical path | unavoidable chain | ratio | readiness deadlocks |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stack']} | {r['critical_s']:.0f} s | {r['unavoidable_s']:.0f} s | {r['path_ratio']:.2f} | {len(r['deadlocks'])} |")
    for stack, critical, unavoidable in paths:
        print(f"\n- `{stack}` critical: {critical.describe()}\n- `{stack}` unavoidable: {unavoidable.describe()}")
    print("\n## Size\n")
    print("| stack | resources | Kubernetes objects | resources.json | manifests |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stack']} | {r['resources']} | {r['objects']} | {r['resources_json_kb']:.0f} KB | {r['manifests_kb']:.0f} KB |")
    largest = max(rows, key=lambda r: r["resources"])
    print(f"\nLargest stack: {largest['stack']} ({largest['resources']} resources), evaluation ratio {largest['ratio']:.2f}.")
    failed = [r["stack"] for r in rows if r["path_ratio"] > graph.TARGET_RATIO or r["deadlocks"] or r["peak_mb"] > 300]
    failed += [largest["stack"]] if largest["ratio"] > 1.5 else []
    if args.container_stacks:
        failed += ["containers"] if containers.report(args.container_stacks) else []
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
