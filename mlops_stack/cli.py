"""`mlops-stack`: render stacks offline, print the config schema, and run the environment lifecycle."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional

from infra import config
from mlops_stack import offline


def main(argv: Optional[list[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("up", "down"):
        return _local(args)
    if args.command == "smoke":
        return _smoke(args)
    if args.command == "serving":
        return _serving(args)
    if args.command == "env":
        return _env(args)
    if args.command == "schema":
        print(json.dumps(config.json_schema(), indent=2))
        return 0
    if args.command == "docs":
        return _docs(args.out)
    if args.all == bool(args.stack):
        parser.error("render takes a STACK or --all")
    stacks = offline.shipped_stacks(args.dir) if args.all else [args.stack]
    return _render(stacks, args.out, args.dir, many=args.all)


def _docs(out: Path) -> int:
    from mlops_stack import reference

    out.mkdir(parents=True, exist_ok=True)
    for filename, page in reference.PAGES.items():
        (out / filename).write_text(page())
        print(out / filename)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("schema", help="print the JSON schema of Pulumi.<stack>.yaml (for editor completion)")
    docs = commands.add_parser("docs", help="write the generated reference pages (every config key) into docs/reference/")
    docs.add_argument("--out", type=Path, default=Path("docs") / "reference", help="folder of the pages (default: docs/reference)")

    render = commands.add_parser("render", help="run a stack's program under mocks and write what it would create")
    render.add_argument("stack", nargs="?", help="stack name: renders Pulumi.<stack>.yaml")
    render.add_argument("--all", action="store_true", help="render every shipped Pulumi.*.yaml")
    render.add_argument("--out", type=Path, help="output folder (default build/<stack>; with --all, <out>/<stack>)")
    render.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with the Pulumi.<stack>.yaml files (default: here)")

    env = commands.add_parser("env", help="ephemeral PR stacks and previews (Pulumi Automation API; needs the Pulumi CLI)")
    env.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with Pulumi.yaml (default: here)")
    env.add_argument("--secrets-provider", default=os.environ.get("MLOPS_SECRETS_PROVIDER", "passphrase"),
                     help="secrets provider of new stacks: passphrase (default), awskms://…, azurekeyvault://…, default (Pulumi Cloud)")
    actions = env.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="create or update staging-pr-N from Pulumi.staging.yaml, ephemeral, and deploy it")
    up.add_argument("--pr", type=int, required=True, help="pull request number")
    up.add_argument("--owner", default=None, help="who owns it (default: $GITHUB_ACTOR or $USER)")
    up.add_argument("--ttl-hours", type=int, default=lifecycle_defaults()["ttl"], help="hours until the sweep may destroy it (default 72)")
    down = actions.add_parser("down", help="destroy and remove staging-pr-N (refuses any stack that is not ephemeral)")
    down.add_argument("--pr", type=int, required=True, help="pull request number")
    sweep = actions.add_parser("sweep", help="tear down every ephemeral stack past its expiry")
    sweep.add_argument("--dry-run", action="store_true", help="report only; destroy nothing")
    preview = actions.add_parser("preview", help="preview a stack (with the policy pack) and write a Markdown summary")
    preview.add_argument("stack")
    preview.add_argument("--out", type=Path, default=Path("preview.md"), help="Markdown summary for the PR comment (default preview.md)")

    serving = commands.add_parser("serving", help="model releases and traffic shifts as `pulumi config set --path` keys")
    serving.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with the Pulumi.<stack>.yaml files (default: here)")
    steps = serving.add_subparsers(dest="step", required=True)
    release = steps.add_parser("release", help="the keys that point the variant a tag model-<endpoint>-<variant> names at an image")
    release.add_argument("tag")
    release.add_argument("--stack", required=True)
    release.add_argument("--image", required=True, help="the image just pushed, pinned by digest")
    shift = steps.add_parser("weights", help="the keys that set an endpoint's traffic weights, e.g. a=0,b=100")
    shift.add_argument("endpoint")
    shift.add_argument("weights")
    shift.add_argument("--stack", required=True)

    local_up = commands.add_parser("up", help="a running platform on a kind cluster: the cluster, the platform image, the stack, `pulumi up`")
    local_up.add_argument("stack", help="an ensemble stack whose mlops:cluster.context is kind-<name>, e.g. local")
    local_up.add_argument("--image", default=None, help="a platform image already in Docker (default: build images/platform here)")
    local_up.add_argument("--yes", action="store_true", help="pass --yes to pulumi up (no confirmation)")
    local_up.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with Pulumi.yaml (default: here)")
    local_down = commands.add_parser("down", help="destroy a stack that `up` made; the kind cluster stays unless --delete-cluster")
    local_down.add_argument("stack")
    local_down.add_argument("--delete-cluster", action="store_true", help="also delete the kind cluster")
    local_down.add_argument("--yes", action="store_true", help="pass --yes to pulumi destroy (no confirmation)")
    local_down.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with Pulumi.yaml (default: here)")

    smoke = commands.add_parser("smoke", help="run the post-deploy check now, as a new Job in the stack's cluster, and stream its log")
    smoke.add_argument("stack")
    smoke.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with the Pulumi.<stack>.yaml files (default: here)")
    smoke.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: the stack's mlops:cluster.kubeconfig, $KUBECONFIG, ~/.kube/config)")
    smoke.add_argument("--context", default=None, help="kubeconfig context (default: the stack's mlops:cluster.context, else the current one)")
    return parser


def _local(args: argparse.Namespace, platform=None) -> int:
    from mlops_stack import local_platform

    try:
        platform = platform or local_platform.LocalPlatform(args.stack, args.dir.resolve())
        if args.command == "up":
            platform.up(image=args.image, yes=args.yes)
        else:
            platform.down(delete_cluster=args.delete_cluster, yes=args.yes)
    except (local_platform.LocalPlatformError, config.ConfigError, FileNotFoundError) as error:
        for line in str(error).splitlines():
            print(f"mlops-stack {args.command} {args.stack}: {line}", file=sys.stderr)
        return 2
    return 0


def _smoke(args: argparse.Namespace, api=None) -> int:
    from mlops_stack import smoke_run

    try:
        manifest = smoke_run.job_manifest(args.stack, args.dir)
        cluster = offline.validated_config(args.stack, args.dir).cluster
        batch, core = api or smoke_run.clients(args.kubeconfig or cluster.kubeconfig, args.context or cluster.context)
        return smoke_run.run(manifest, batch, core, sys.stdout)
    except (smoke_run.SmokeError, config.ConfigError, FileNotFoundError) as error:
        print(f"mlops-stack smoke {args.stack}: {error}", file=sys.stderr)
        return 2


def _serving(args: argparse.Namespace) -> int:
    """Prints one `key<TAB>value` line per config key; the workflows pass each to `pulumi config set --path`."""
    from mlops_stack import releases

    try:
        endpoints = releases.endpoints_of(args.stack, args.dir)
        if args.step == "release":
            keys = releases.release_keys(releases.parse_tag(args.tag, endpoints), args.image, endpoints)
        else:
            keys = releases.weight_keys(args.endpoint, args.weights, endpoints)
    except (releases.ReleaseError, config.ConfigError) as error:
        print(f"mlops-stack serving {args.step}: {error}", file=sys.stderr)
        return 2
    for key, value in keys.items():
        print(f"{key}\t{value}")
    return 0


def lifecycle_defaults() -> dict:
    from mlops_stack.lifecycle import DEFAULT_TTL_HOURS

    return {"ttl": DEFAULT_TTL_HOURS}


def _env(args: argparse.Namespace, backend=None) -> int:
    from mlops_stack import lifecycle

    try:
        backend = backend or lifecycle.AutomationBackend(args.dir, args.secrets_provider)
        run = lifecycle.Lifecycle(backend, args.dir)
        if args.action == "up":
            run.up(args.pr, args.owner or lifecycle.owner_from_environment(), args.ttl_hours)
        elif args.action == "down":
            run.down(args.pr)
        elif args.action == "sweep":
            report = run.sweep(dry_run=args.dry_run)
            return 1 if report.failed else 0
        elif args.action == "preview":
            run.preview(args.stack, args.out)
    except lifecycle.LifecycleError as error:
        print(f"mlops-stack env {args.action}: {error}", file=sys.stderr)
        return 2
    except config.ConfigError as error:
        print(f"mlops-stack env {args.action}: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:  # no Pulumi CLI on PATH
        print(f"mlops-stack env {args.action}: {error}; install the Pulumi CLI (https://www.pulumi.com/docs/install/)", file=sys.stderr)
        return 2
    return 0


def _render(stacks: list[str], out: Optional[Path], project: Path, many: bool) -> int:
    from mlops_stack import render  # imports the Pulumi SDKs; `schema` does not need them

    for stack in stacks:
        target = (out or Path("build")) / stack if (many or out is None) else out
        try:
            recording = render.render_stack(stack, target, project)
        except (config.ConfigError, FileNotFoundError) as err:
            print(f"mlops-stack render {stack}: {err}", file=sys.stderr)
            return 2
        objects = len(recording.kubernetes_objects())
        print(f"{stack}: {len(recording.resources)} resources, {objects} Kubernetes objects -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
