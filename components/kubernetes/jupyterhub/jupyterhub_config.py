# JupyterHub's configuration file, as the hub runs it (`jupyterhub -f`). It ships in the hub's ConfigMap
# next to the two files it reads, so a stack change reaches the hub without a new image:
#   hub.yaml       the hub's settings (sign-in, proxy, culler, profiles, storage);
#   user-pod.yaml  the user servers' pod template: the pipeline config's env and files, the pipelines'
#                  service account (their cloud identity), the restricted security context.
# The template is a Pod manifest, validated as one; here it becomes KubeSpawner's settings.
# Not imported by mlops-stack: this is data for the hub.
import os
import sys
from pathlib import Path

import yaml

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
here = Path(os.environ.get("JUPYTERHUB_SETTINGS_DIR", Path(__file__).parent))
settings = yaml.safe_load((here / "hub.yaml").read_text())
pod = yaml.safe_load((here / "user-pod.yaml").read_text())

# The hub: state in PostgreSQL, the proxy a Deployment of its own (it keeps routes while the hub restarts).
c.JupyterHub.db_url = os.environ["JUPYTERHUB_DB_URL"]
c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{os.environ['JUPYTERHUB_HUB_PORT']}"
c.JupyterHub.hub_connect_url = settings["hubConnectUrl"]
c.JupyterHub.cleanup_servers = False  # user servers outlive a hub restart
c.JupyterHub.allow_named_servers = False
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = settings["proxyApiUrl"]  # token: CONFIGPROXY_AUTH_TOKEN
# The cookie secret comes from JPY_COOKIE_SECRET, so sessions survive a restart.

# Sign-in: one generated password for users, one for admins.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["JUPYTERHUB_USER_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ["JUPYTERHUB_ADMIN_PASSWORD"]
c.Authenticator.admin_users = set(settings["admins"])
if settings["users"]:
    c.Authenticator.allowed_users = set(settings["users"])
else:
    c.Authenticator.allow_all = True  # anyone who holds the user password

# Services: the idle culler, and the platform's read-only API client (its token in the hub's Secret).
c.JupyterHub.services = [
    {"name": "idle-culler", "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                                        f"--timeout={settings['cullIdleSeconds']}", "--cull-every=300"]},
    {"name": "mlops-stack", "api_token": os.environ["JUPYTERHUB_PLATFORM_TOKEN"]},
]
c.JupyterHub.load_roles = [
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    {"name": "mlops-stack", "services": ["mlops-stack"], "scopes": ["list:users", "read:users", "read:servers", "list:services", "read:services"]},
]

# User servers: the template's pod, in the pipelines namespace.
spec = pod["spec"]
container = spec["containers"][0]
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = pod["metadata"]["namespace"]
c.KubeSpawner.extra_labels = pod["metadata"]["labels"]
c.KubeSpawner.image = container["image"]
c.KubeSpawner.cmd = container["command"]
c.KubeSpawner.port = container["ports"][0]["containerPort"]
c.KubeSpawner.service_account = spec["serviceAccountName"]
c.KubeSpawner.automount_service_account_token = spec["automountServiceAccountToken"]
c.KubeSpawner.uid = spec["securityContext"]["runAsUser"]
c.KubeSpawner.gid = spec["securityContext"]["runAsGroup"]
c.KubeSpawner.fs_gid = spec["securityContext"]["fsGroup"]
c.KubeSpawner.pod_security_context = spec["securityContext"]
c.KubeSpawner.container_security_context = container["securityContext"]
c.KubeSpawner.environment = {e["name"]: e["value"] for e in container.get("env", [])}
c.KubeSpawner.extra_container_config = {"envFrom": container["envFrom"]}
c.KubeSpawner.extra_pod_config = {"enableServiceLinks": spec["enableServiceLinks"]}
c.KubeSpawner.node_selector = spec.get("nodeSelector", {})
c.KubeSpawner.start_timeout = settings["startTimeoutSeconds"]
c.KubeSpawner.http_timeout = 120

# The template's home is an emptyDir; a spawned server gets the user's own claim in its place.
storage = settings["storage"]
claim = {"name": storage["volume"], "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
c.KubeSpawner.volumes = [claim if v["name"] == storage["volume"] else v for v in spec["volumes"]]
c.KubeSpawner.volume_mounts = container["volumeMounts"]
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.pvc_name_template = storage["claimName"]
c.KubeSpawner.storage_capacity = storage["capacity"]
c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
c.KubeSpawner.storage_extra_labels = pod["metadata"]["labels"]
if storage.get("className"):
    c.KubeSpawner.storage_class = storage["className"]
c.KubeSpawner.delete_pvc = False  # a removed user's files stay until an admin deletes the claim

c.KubeSpawner.profile_list = [
    {
        "display_name": profile["name"],
        "slug": profile["name"],
        "description": profile["description"],
        "default": index == 0,
        "kubespawner_override": profile["override"],
    }
    for index, profile in enumerate(settings["profiles"])
]
