"""Azure ML compute instances as the notebooks' managed equivalent (services.notebooks.mode: managed on
azure): one per user in the stack's workspace, inside the VNet, with no public IP, shut down when idle.

They run as the pipelines' user-assigned identity. A creation script delivers the pipeline config:
its public part is in the script, and its secret part is a Key Vault secret that only that identity
may read, fetched with the instance's identity when it is created.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_azure_native as azure

from components.azure.identity import role_assignment_name, role_definition
from mlops_jobs import pipeline_names

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
HOME = "/home/azureuser"  # the compute instance's user
CONFIG_DIR = f"{HOME}/.mlops"
SECRET_NAME = "pipeline-config-secret-env"


@dataclass(frozen=True)
class ComputeInstancesArgs:
    workspace_name: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    instance_names: Mapping[str, pulumi.Input[str]]  # by user
    vm_size: str
    subnet_id: pulumi.Input[str]
    identity_id: pulumi.Input[str]  # the pipelines' user-assigned identity
    identity_client_id: pulumi.Input[str]
    identity_principal_id: pulumi.Input[str]
    vault_name: pulumi.Input[str]
    vault_uri: pulumi.Input[str]
    idle_shutdown_seconds: int
    public_env: pulumi.Input[Mapping[str, str]]
    files: pulumi.Input[Mapping[str, str]]
    secret_env: pulumi.Input[Mapping[str, str]]  # a secret Output
    tags: Mapping[str, str] = field(default_factory=dict)


def instance_env(public_env: Mapping[str, str]) -> dict[str, str]:
    """The pipeline config's env, with its mounted files where the script writes them."""
    return {k: v.replace(pipeline_names.CONFIG_MOUNT, CONFIG_DIR) for k, v in public_env.items()}


def creation_script(public_env: Mapping[str, str], files: Mapping[str, str], secret_url: str, client_id: str) -> str:
    """Writes the config under ~azureuser/.mlops with the secret env from Key Vault (the instance's
    identity, through IMDS), then makes kernels and shells read it."""
    payload = base64.b64encode(json.dumps({"env": instance_env(public_env), "files": dict(files)}).encode()).decode()
    env_json, env_sh = f"{CONFIG_DIR}/{pipeline_names.DOTENV}.json", f"{CONFIG_DIR}/{pipeline_names.DOTENV}.sh"
    imds = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
            f"&resource=https%3A%2F%2Fvault.azure.net&client_id={client_id}")
    writer = "\n".join([
        "import base64, json, os, shlex, urllib.request",
        f"config = json.loads(base64.b64decode({payload!r}))",
        "for name, text in config['files'].items():",
        f"    open(os.path.join({CONFIG_DIR!r}, name), 'w').write(text)",
        f"token = json.load(urllib.request.urlopen(urllib.request.Request({imds!r}, headers={{'Metadata': 'true'}})))['access_token']",
        f"request = urllib.request.Request({secret_url + '?api-version=7.4'!r}, headers={{'Authorization': 'Bearer ' + token}})",
        "env = {**config['env'], **json.loads(json.load(urllib.request.urlopen(request))['value'])}",
        f"open({env_json!r}, 'w').write(json.dumps(env))",
        f"open({env_sh!r}, 'w').write(''.join(f'export {{k}}={{shlex.quote(v)}}' + chr(10) for k, v in env.items()))",
    ])
    startup = f"import json, os; os.environ.update(json.load(open({env_json!r})))"
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "umask 077  # the files hold the secret env",
        f"mkdir -p {CONFIG_DIR} {HOME}/.ipython/profile_default/startup",
        "python3 - <<'EOF'", writer, "EOF",
        f"echo '{startup}' > {HOME}/.ipython/profile_default/startup/00-mlops.py",
        f"grep -qF {env_sh} {HOME}/.bashrc 2>/dev/null || echo '. {env_sh}' >> {HOME}/.bashrc",
        f"chown -R azureuser {CONFIG_DIR} {HOME}/.ipython {HOME}/.bashrc",
        "",
    ])


class ComputeInstances(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ComputeInstancesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:azure:ComputeInstances", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = azure.keyvault.Secret(
            f"{name}-pipeline-secrets", secret_name=SECRET_NAME, vault_name=args.vault_name, resource_group_name=args.resource_group,
            properties=azure.keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(pulumi.Output.json_dumps(args.secret_env))),
            tags=dict(args.tags), opts=child,
        )
        reader = azure.authorization.RoleAssignment(
            f"{name}-pipeline-secrets-reader",
            role_assignment_name=role_assignment_name(args.identity_principal_id, secret.id, KEY_VAULT_SECRETS_USER),
            principal_id=args.identity_principal_id, principal_type="ServicePrincipal",
            role_definition_id=role_definition(args.subscription_id, KEY_VAULT_SECRETS_USER),
            scope=secret.id, opts=child,
        )
        secret_url = pulumi.Output.concat(pulumi.Output.from_input(args.vault_uri).apply(lambda u: u.rstrip("/")), "/secrets/", SECRET_NAME)
        script = pulumi.Output.all(args.public_env, args.files, secret_url, args.identity_client_id).apply(
            lambda v: base64.b64encode(creation_script(v[0], v[1], v[2], v[3]).encode()).decode())
        idle = f"PT{max(15, args.idle_shutdown_seconds // 60)}M"  # Azure ML's shortest idle shutdown is 15 minutes
        for user, instance_name in sorted(args.instance_names.items()):
            azure.machinelearningservices.Compute(
                f"{name}-{user}",
                compute_name=instance_name, workspace_name=args.workspace_name, resource_group_name=args.resource_group,
                location=args.location, tags={**args.tags, "user": user},
                identity=azure.machinelearningservices.ManagedServiceIdentityArgs(
                    type="UserAssigned", user_assigned_identities=[args.identity_id]),
                properties=azure.machinelearningservices.ComputeInstanceArgs(
                    compute_type="ComputeInstance",
                    disable_local_auth=True,
                    properties=azure.machinelearningservices.ComputeInstancePropertiesArgs(
                        vm_size=args.vm_size,
                        subnet=azure.machinelearningservices.ResourceIdArgs(id=args.subnet_id),
                        enable_node_public_ip=False,
                        ssh_settings=azure.machinelearningservices.ComputeInstanceSshSettingsArgs(ssh_public_access="Disabled"),
                        idle_time_before_shutdown=idle,
                        setup_scripts=azure.machinelearningservices.SetupScriptsArgs(
                            scripts=azure.machinelearningservices.ScriptsToExecuteArgs(
                                creation_script=azure.machinelearningservices.ScriptReferenceArgs(script_source="inline", script_data=script),
                            ),
                        ),
                    ),
                ),
                # The script reads the secret when the instance is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[reader]),
            )
        self.url = pulumi.Output.concat("https://ml.azure.com/compute/list/instances?wsid=/subscriptions/", args.subscription_id,
                                        "/resourceGroups/", args.resource_group,
                                        "/providers/Microsoft.MachineLearningServices/workspaces/", args.workspace_name)
        self.register_outputs({"url": self.url})
