"""`mlops-stack`: render stacks offline and print the config schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from infra import config, offline


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("schema", help="print the JSON schema of Pulumi.<stack>.yaml (for editor completion)")

    render = commands.add_parser("render", help="run a stack's program under mocks and write what it would create")
    render.add_argument("stack", nargs="?", help="stack name: renders Pulumi.<stack>.yaml")
    render.add_argument("--all", action="store_true", help="render every shipped Pulumi.*.yaml")
    render.add_argument("--out", type=Path, help="output folder (default build/<stack>; with --all, <out>/<stack>)")
    render.add_argument("--dir", type=Path, default=Path.cwd(), help="project folder with the Pulumi.<stack>.yaml files (default: here)")

    args = parser.parse_args(argv)
    if args.command == "schema":
        print(json.dumps(config.json_schema(), indent=2))
        return 0
    if args.all == bool(args.stack):
        parser.error("render takes a STACK or --all")
    stacks = offline.shipped_stacks(args.dir) if args.all else [args.stack]
    return _render(stacks, args.out, args.dir, many=args.all)


def _render(stacks: list[str], out: Optional[Path], project: Path, many: bool) -> int:
    from infra import render  # imports the Pulumi SDKs; `schema` does not need them

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
