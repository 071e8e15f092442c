"""Environment lifecycle: an ephemeral staging stack per pull request, its guaranteed teardown, the
sweep of expired ones, and previews for PR comments, through the Pulumi Automation API.

`Lifecycle` holds the rules (which stack, which config, what may be destroyed); `StackBackend` is the
handful of Automation API calls it makes. `AutomationBackend` maps them onto `pulumi.automation`; the
tests use a fake one and check the sequence of calls.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol


from infra.config import DEFAULT_TTL_HOURS, EPHEMERAL_STACK, NAMESPACE, ConfigError, environment_from_stack, stack_file, stack_values

TEMPLATE_STACK = "staging"
TAG_PREFIX = "mlops-stack"
TAG_EPHEMERAL, TAG_OWNER, TAG_PR, TAG_EXPIRES = (f"{TAG_PREFIX}:{k}" for k in ("ephemeral", "owner", "pr", "expires"))
# Kubernetes label values (resource tags) allow no ':'; this form sorts and parses back.
EXPIRY_FORMAT = "%Y%m%dT%H%MZ"

# Failures worth another try: the backend or a cloud API was briefly unavailable or busy.
TRANSIENT = re.compile(
    r"(?i)(timed? ?out|timeout|connection (reset|refused)|temporarily unavailable|throttl|rate exceeded|"
    r"too many requests|\b429\b|\b50[234]\b|another update is currently in progress|conflict: .*in progress|"
    r"i/o timeout|unexpected EOF)"
)


class LifecycleError(Exception):
    """A refusal or failure, with a message meant for the person who ran the command."""


@dataclass(frozen=True)
class ConfigEntry:
    value: str
    secret: bool = False


class StackBackend(Protocol):
    """The Automation API calls the lifecycle makes."""

    def list_stacks(self) -> list[str]: ...
    def create_or_select(self, stack: str) -> None: ...
    def exists(self, stack: str) -> bool: ...
    def get_all_config(self, stack: str) -> dict[str, ConfigEntry]: ...
    def set_all_config(self, stack: str, values: dict[str, ConfigEntry]) -> None: ...
    def list_tags(self, stack: str) -> dict[str, str]: ...
    def set_tag(self, stack: str, key: str, value: str) -> None: ...
    def up(self, stack: str) -> dict[str, Any]: ...
    def preview(self, stack: str, policy_packs: list[str]) -> "PreviewSummary": ...
    def destroy(self, stack: str) -> None: ...
    def remove(self, stack: str) -> None: ...


@dataclass(frozen=True)
class PreviewSummary:
    stack: str
    changes: dict[str, int]  # operation (create, update, delete, replace, same) -> count
    output: str  # the preview's text, as the CLI printed it


@dataclass
class SweepReport:
    destroyed: list[str] = field(default_factory=list)
    would_destroy: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # stack -> why
    failed: dict[str, str] = field(default_factory=dict)  # stack -> error

    def lines(self) -> list[str]:
        out = [f"destroyed {s}" for s in self.destroyed]
        out += [f"would destroy {s} (dry run)" for s in self.would_destroy]
        out += [f"skipped {s}: {why}" for s, why in sorted(self.skipped.items())]
        out += [f"FAILED {s}: {error}" for s, error in sorted(self.failed.items())]
        return out or ["no stacks"]


def stack_for_pr(pr: int) -> str:
    if pr < 1:
        raise LifecycleError(f"--pr: {pr} is not allowed; allowed: a pull request number, 1 or more")
    return f"staging-pr-{pr}"


def expiry_of(tags: dict[str, str]) -> Optional[dt.datetime]:
    raw = tags.get(TAG_EXPIRES)
    if not raw:
        return None
    try:
        return dt.datetime.strptime(raw, EXPIRY_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def flatten(values: dict[str, Any]) -> dict[str, ConfigEntry]:
    """A stack file's `config:` map as path keys (`mlops:services.postgres.storage`), which Pulumi sets
    with `--path`. Keys that are not identifiers (label keys with '/' or '.') are quoted in brackets."""
    out: dict[str, ConfigEntry] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and set(value) == {"secure"}:
            out[prefix] = ConfigEntry(value="", secret=True)  # filled from the template stack
        elif isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)) else f'{prefix}["{key}"]', item)
        elif isinstance(value, list) and value:
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            out[prefix] = ConfigEntry("true" if value else "false")
        else:
            out[prefix] = ConfigEntry("" if value is None else str(value))

    for key, value in values.items():
        walk(key, value)
    return out


class Lifecycle:
    def __init__(
        self,
        backend: StackBackend,
        project_dir: Path,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
        first_delay: float = 10.0,
        log: Callable[[str], None] = print,
    ):
        self.backend, self.project_dir = backend, project_dir
        self.now, self.sleep, self.attempts, self.first_delay, self.log = now, sleep, attempts, first_delay, log

    # --- env up ---------------------------------------------------------------------------------
    def up(self, pr: int, owner: str, ttl_hours: int = DEFAULT_TTL_HOURS) -> dict[str, Any]:
        """Create or update the stack of a pull request, from the staging config, and deploy it."""
        if ttl_hours < 1:
            raise LifecycleError(f"--ttl-hours: {ttl_hours} is not allowed; allowed: 1 or more")
        stack = stack_for_pr(pr)
        owner = _label_value(owner) or "unknown"
        expires = (self.now() + dt.timedelta(hours=ttl_hours)).strftime(EXPIRY_FORMAT)
        template = self._template_config()

        self.backend.create_or_select(stack)
        labels = {f"{TAG_PREFIX}/owner": owner, f"{TAG_PREFIX}/pr": str(pr), f"{TAG_PREFIX}/expires": expires}
        config = dict(template)
        config[f"{NAMESPACE}:ephemeral"] = ConfigEntry("true")
        config[f"{NAMESPACE}:protect"] = ConfigEntry("false")
        config[f"{NAMESPACE}:environment"] = ConfigEntry("staging")
        for key, value in labels.items():
            config[f'{NAMESPACE}:labels["{key}"]'] = ConfigEntry(value)
        self.backend.set_all_config(stack, config)
        for key, value in ((TAG_EPHEMERAL, "true"), (TAG_OWNER, owner), (TAG_PR, str(pr)), (TAG_EXPIRES, expires)):
            self.backend.set_tag(stack, key, value)
        self.log(f"{stack}: ephemeral, owner {owner}, expires {expires}; deploying")
        outputs = self._retry(f"up {stack}", lambda: self.backend.up(stack))
        public = {k: v for k, v in outputs.items() if k in ("environment", "backend", "namespaces", "services", "pipelineConfig")}
        self.log(json.dumps(public, indent=2, sort_keys=True))
        return public

    def _template_config(self) -> dict[str, ConfigEntry]:
        path = stack_file(TEMPLATE_STACK, self.project_dir)
        if not path.exists():
            raise LifecycleError(f"{path.name} is missing: ephemeral stacks copy their config from it")
        try:
            values = stack_values(TEMPLATE_STACK, self.project_dir)
        except ConfigError as error:
            raise LifecycleError(str(error)) from None
        config = flatten(values)
        secure = [k for k, v in config.items() if v.secret]
        if secure:
            # Encrypted with the staging stack's key: read them decrypted through that stack.
            decrypted = self.backend.get_all_config(TEMPLATE_STACK)
            for key in secure:
                if key not in decrypted:
                    raise LifecycleError(f"{key}: secret in {path.name}, but the stack {TEMPLATE_STACK!r} does not return it")
                config[key] = ConfigEntry(decrypted[key].value, secret=True)
        # The template's own identity is not copied.
        for key in (f"{NAMESPACE}:ephemeral", f"{NAMESPACE}:protect", f"{NAMESPACE}:environment"):
            config.pop(key, None)
        return config

    # --- env down -------------------------------------------------------------------------------
    def down(self, pr: int) -> str:
        """Destroy the stack of a pull request, then remove it. Only ever an ephemeral stack."""
        stack = stack_for_pr(pr)
        if not self.backend.exists(stack):
            self.log(f"{stack}: no such stack; nothing to tear down")
            return "absent"
        self._refuse_unless_ephemeral(stack)
        self._teardown(stack)
        return "destroyed"

    def _refuse_unless_ephemeral(self, stack: str) -> None:
        tags = self.backend.list_tags(stack)
        config = self.backend.get_all_config(stack)
        ephemeral_config = config.get(f"{NAMESPACE}:ephemeral", ConfigEntry("")).value == "true"
        reasons = []
        if not EPHEMERAL_STACK.match(stack):
            reasons.append("its name is not staging-pr-<N>")
        if environment_from_stack(stack) is not None and environment_from_stack(stack).value == "production":
            reasons.append("it is production")
        if tags.get(TAG_EPHEMERAL) != "true":
            reasons.append(f"it has no tag {TAG_EPHEMERAL}=true")
        if not ephemeral_config:
            reasons.append(f"its config does not set {NAMESPACE}:ephemeral: true")
        if reasons:
            raise LifecycleError(f"refusing to destroy {stack}: {'; '.join(reasons)}. Only ephemeral PR stacks are torn down here.")

    def _teardown(self, stack: str) -> None:
        self.log(f"{stack}: destroying")
        self._retry(f"destroy {stack}", lambda: self.backend.destroy(stack))
        self._retry(f"remove {stack}", lambda: self.backend.remove(stack))
        self.log(f"{stack}: destroyed and removed")

    # --- env sweep ------------------------------------------------------------------------------
    def sweep(self, dry_run: bool = False) -> SweepReport:
        """Tear down every ephemeral stack past its expiry; report the others and why they stay."""
        report = SweepReport()
        now = self.now()
        for stack in sorted(self.backend.list_stacks()):
            if not EPHEMERAL_STACK.match(stack):
                report.skipped[stack] = "not an ephemeral stack"
                continue
            tags = self.backend.list_tags(stack)
            if tags.get(TAG_EPHEMERAL) != "true":
                report.skipped[stack] = f"no tag {TAG_EPHEMERAL}=true"
                continue
            expires = expiry_of(tags)
            if expires is None:
                report.skipped[stack] = f"no valid {TAG_EXPIRES} tag"
                continue
            if expires > now:
                report.skipped[stack] = f"expires {expires:%Y-%m-%d %H:%M} UTC"
                continue
            if dry_run:
                report.would_destroy.append(stack)
                continue
            try:
                self._refuse_unless_ephemeral(stack)
                self._teardown(stack)
                report.destroyed.append(stack)
            except LifecycleError as error:
                report.failed[stack] = str(error)
        for line in report.lines():
            self.log(line)
        return report

    # --- env preview ----------------------------------------------------------------------------
    def preview(self, stack: str, out: Path, policy_pack: Optional[Path] = None) -> PreviewSummary:
        """A preview with the policy pack (policies/ of the project), summarised as Markdown in `out`."""
        pack = policy_pack or self.project_dir / "policies"
        if not (pack / "PulumiPolicy.yaml").exists():
            raise LifecycleError(f"{pack / 'PulumiPolicy.yaml'} is missing: every preview runs the policy pack")
        summary = self._retry(f"preview {stack}", lambda: self.backend.preview(stack, [str(pack)]))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(summary))
        self.log(f"{stack}: preview summary written to {out}")
        return summary

    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except LifecycleError:
                raise
            except Exception as error:  # the Automation API raises CommandError with the CLI's output
                if attempt == self.attempts or not TRANSIENT.search(str(error)):
                    raise LifecycleError(f"{what} failed: {_last_line(str(error))}") from error
                self.log(f"{what}: transient failure ({_last_line(str(error))}); retry {attempt}/{self.attempts - 1} in {delay:.0f}s")
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def markdown(summary: PreviewSummary) -> str:
    """The PR comment: counts per operation, and the preview's text folded away."""
    counts = {k: v for k, v in summary.changes.items() if v}
    changed = sum(v for k, v in counts.items() if k != "same")
    rows = "\n".join(f"| {op} | {count} |" for op, count in sorted(counts.items()))
    policy_line = "Policy pack: `policies` (mandatory policies)."
    return (
        f"### `pulumi preview` of `{summary.stack}`: {changed} change(s)\n\n"
        f"| operation | resources |\n|---|---|\n{rows or '| (none) | 0 |'}\n\n"
        f"{policy_line}\n\n"
        f"<details><summary>Preview output</summary>\n\n```\n{summary.output.strip()[-60000:]}\n```\n</details>\n"
    )


def _label_value(value: str) -> str:
    """A valid Kubernetes label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return cleaned.strip("-_.")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


class AutomationBackend:
    """StackBackend on `pulumi.automation`, for the project in `project_dir` (needs the Pulumi CLI).

    The state backend is whatever the CLI is logged in to, or PULUMI_BACKEND_URL (file://, s3://,
    azblob://, or Pulumi Cloud); new stacks use the secrets provider given (passphrase by default,
    with PULUMI_CONFIG_PASSPHRASE).
    """

    def __init__(self, project_dir: Path, secrets_provider: str = "passphrase"):
        from pulumi import automation as auto

        self.auto = auto
        self.project_dir = str(project_dir)
        self.secrets_provider = None if secrets_provider == "passphrase" else secrets_provider
        self.workspace = auto.LocalWorkspace(work_dir=self.project_dir, secrets_provider=self.secrets_provider)

    def _stack(self, stack: str):
        return self.auto.select_stack(stack, work_dir=self.project_dir)

    def list_stacks(self) -> list[str]:
        return [s.name for s in self.workspace.list_stacks()]

    def exists(self, stack: str) -> bool:
        return stack in self.list_stacks()

    def create_or_select(self, stack: str) -> None:
        options = self.auto.LocalWorkspaceOptions(work_dir=self.project_dir, secrets_provider=self.secrets_provider)
        self.auto.create_or_select_stack(stack, work_dir=self.project_dir, opts=options)

    def get_all_config(self, stack: str) -> dict[str, ConfigEntry]:
        return {k: ConfigEntry(v.value, v.secret) for k, v in self.workspace.get_all_config(stack).items()}

    def set_all_config(self, stack: str, values: dict[str, ConfigEntry]) -> None:
        config = {k: self.auto.ConfigValue(value=v.value, secret=v.secret) for k, v in values.items()}
        self.workspace.set_all_config(stack, config, path=True)

    def list_tags(self, stack: str) -> dict[str, str]:
        return dict(self.workspace.list_tags(stack))

    def set_tag(self, stack: str, key: str, value: str) -> None:
        self.workspace.set_tag(stack, key, value)

    def up(self, stack: str) -> dict[str, Any]:
        result = self._stack(stack).up(on_output=print, color="never")
        return {k: v.value for k, v in result.outputs.items() if not v.secret}

    def preview(self, stack: str, policy_packs: list[str]) -> PreviewSummary:
        lines: list[str] = []
        result = self._stack(stack).preview(policy_packs=policy_packs or None, diff=True, color="never", on_output=lines.append)
        changes = {str(getattr(op, "value", op)): count for op, count in (result.change_summary or {}).items()}
        return PreviewSummary(stack=stack, changes=changes, output="\n".join(lines) or result.stdout)

    def destroy(self, stack: str) -> None:
        self._stack(stack).destroy(on_output=print, color="never")

    def remove(self, stack: str) -> None:
        self.workspace.remove_stack(stack)


def owner_from_environment() -> str:
    """Who asked: the GitHub actor in Actions, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
