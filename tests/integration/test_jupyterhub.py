"""The notebooks hub as rendered for the local stack: JupyterHub and configurable-http-proxy, each run
as a container of the notebook image under its own pod spec, against a real PostgreSQL set up by the
rendered setup Job. A person signs in through the proxy; the platform's client reads the REST API
with its token; the culler runs as the hub's service.

There is no Kubernetes API here, so no server is spawned through KubeSpawner: the user server's pod
template runs as a container in test_notebooks.py instead.
"""

from __future__ import annotations

import http.cookiejar
import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.conftest import recording_of
from tests.integration.conftest import free_port, running_postgres
from tests.integration.containers import ContainerCluster, docker_ready, notebook_image
from tests.integration.kubelet import secret_data
from tests.integration.test_data_services import rendered_postgres_setup, run_setup

pytestmark = pytest.mark.integration

NAMESPACE = "mlops"


class Hub:
    def __init__(self, cluster: ContainerCluster, proxy_port: int, postgres: dict):
        self.cluster, self.proxy_port, self.postgres = cluster, proxy_port, postgres

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.proxy_port}{path}"

    def secret(self, name: str) -> dict[str, str]:
        return secret_data(self.cluster.object("Secret", name, NAMESPACE))

    def api(self, path: str, token: str) -> tuple[int, object]:
        request = urllib.request.Request(self.url(f"/hub/api{path}"), headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            return err.code, None


@pytest.fixture(scope="module")
def hub():
    image = notebook_image()
    docker_ready(image)
    recording = recording_of("local")
    work = Path(tempfile.mkdtemp(prefix="mlops-hub-"))
    cluster = ContainerCluster(recording, work)
    with running_postgres() as server:
        # The hub's database and login, made by the rendered setup Job with the rendered passwords.
        credentials = secret_data(cluster.object("Secret", "postgres-credentials", NAMESPACE))
        passwords = {key.removesuffix("-password"): value for key, value in credentials.items() if key != "password"}
        script, env_spec = rendered_postgres_setup(work)
        setup = run_setup(script, env_spec, server, passwords)
        assert setup.returncode == 0, setup.stderr
        cluster.expose("postgres.mlops.svc.cluster.local:5432", server["port"])
        ports = {"hub": free_port(), "proxy": free_port(), "api": free_port()}
        cluster.expose("jupyterhub-hub.mlops.svc.cluster.local:8081", ports["hub"])
        cluster.expose("jupyterhub-proxy-api.mlops.svc.cluster.local:8001", ports["api"])
        try:
            proxy = cluster.container("Deployment", "jupyterhub-proxy", ports={8000: ports["proxy"], 8001: ports["api"]}).start()
            hub = cluster.container("Deployment", "jupyterhub-hub", ports={8081: ports["hub"]}).start()
            proxy.wait_ready(timeout=120)
            hub.wait_ready(timeout=300)
            yield Hub(cluster, ports["proxy"], {**server, "password": passwords["jupyterhub"]})
        finally:
            cluster.stop_all()


def test_the_hub_keeps_its_state_in_its_own_database(hub):
    server = hub.postgres
    with psycopg.connect(host=server["host"], port=server["port"], dbname="jupyterhub", user="jupyterhub",
                         password=server["password"], connect_timeout=5) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        users = {row[0] for row in conn.execute("SELECT name FROM users")}
    assert {"users", "spawners", "api_tokens", "services"} <= tables
    assert "admin" in users  # the configured admin


def test_the_rest_api_answers_the_platform_token_and_refuses_others(hub):
    token = hub.secret("jupyterhub")["platform-token"]
    status, users = hub.api("/users", token)
    assert status == 200 and [u["name"] for u in users] == ["admin"] and users[0]["admin"] is True
    assert hub.api("/users", "not-the-token")[0] == 403
    # The platform's client reads, and may not act.
    request = urllib.request.Request(hub.url("/hub/api/users/admin/server"), method="POST", headers={"Authorization": f"token {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    # The culler runs as the hub's own service, started by the hub.
    status, services = hub.api("/services", token)
    assert status == 200 and set(services) == {"idle-culler", "mlops-stack"}
    culler = services["idle-culler"]
    assert "--timeout=3600" in culler["command"] and culler["pid"] > 0, culler  # running, with local's idle time


def sign_in(hub: Hub, username: str, password: str) -> tuple[int, str]:
    """The login form through the proxy, as a browser posts it: returns the last status and URL."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(hub.url("/hub/login"), timeout=30) as page:
        assert page.status == 200
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    body = urllib.parse.urlencode({"username": username, "password": password, "_xsrf": xsrf}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    no_redirect = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    try:
        with no_redirect.open(urllib.request.Request(hub.url("/hub/login"), data=body), timeout=30) as response:
            return response.status, response.url
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", "")


def test_a_person_signs_in_through_the_proxy_with_the_generated_passwords(hub):
    passwords = hub.secret("jupyterhub-sign-in")
    status, location = sign_in(hub, "admin", passwords["admin-password"])
    assert status == 302 and "/hub/login" not in location, (status, location)
    # Anyone with the user password (users is empty on local), and nobody with a wrong one.
    assert sign_in(hub, "alice", passwords["user-password"])[0] == 302
    assert sign_in(hub, "alice", "wrong-password")[0] == 403
    assert sign_in(hub, "admin", passwords["user-password"])[0] == 403  # an admin needs the admin password
