"""The Kubernetes recipes (examples/kubernetes): every manifest valid for the Kubernetes API, offline
(``kubernetes-validate``, strict), locked down; and the containers' own ``command`` and ``args``,
read from the manifests, run here against the emulator, each volume's mount path moved into a
temporary directory: the agent's init container and sidecar write the files the application reads;
the in-pod endpoint passes its readiness probe and serves the application its credential."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helpers import CLIENT_ID, EXE, USERNAME, run_process
from serve_fixtures import ServeProcess, get_json, new_server_token, wait_until

from sf_credproc.emulator import SalesforceEmulator

KUBERNETES = Path(__file__).resolve().parents[1] / "examples" / "kubernetes"
MANIFESTS = sorted(KUBERNETES.glob("*.yaml"))
#: The oldest Kubernetes release the manifests promise to fit (its schemas ship in the package).
KUBERNETES_VERSION = "1.31.0"
#: The settings the manifests' ConfigMaps may hold; those naming the world are the test's here.
SETTINGS = {
    "SF_CREDPROC_CLIENT_ID",
    "SF_CREDPROC_USERNAME",
    "SF_CREDPROC_LOGIN_URL",
    "SF_CREDPROC_KEY",
    "SF_CREDPROC_CACHE_DIR",
    "SF_CREDPROC_LOG_FORMAT",
}
#: The endpoint's port in serve-in-pod.yaml; the test serves on a free one.
POD_PORT = "9911"

Document = dict[str, Any]


def documents(path: Path) -> list[Document]:
    with path.open() as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


def one_of(path: Path, kind: str) -> Document:
    found = [document for document in documents(path) if document["kind"] == kind]
    assert len(found) == 1, (path.name, kind)
    return found[0]


def pod_spec(path: Path) -> Document:
    spec: Document = one_of(path, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(pod: Document, name: str, *, init: bool = False) -> Document:
    entries: list[Document] = pod.get("initContainers" if init else "containers", [])
    found = [entry for entry in entries if entry["name"] == name]
    assert len(found) == 1, name
    return found[0]


class Pod:
    """One pod of a manifest on this machine: every volume a directory under ``root``."""

    def __init__(self, path: Path, root: Path) -> None:
        self.spec = pod_spec(path)
        config_map = one_of(path, "ConfigMap")
        self.config_map: str = config_map["metadata"]["name"]
        self.settings: dict[str, str] = config_map["data"]
        self.volumes = {volume["name"]: root / volume["name"] for volume in self.spec["volumes"]}
        for directory in self.volumes.values():
            directory.mkdir(mode=0o700)
        self.mounts: dict[str, Path] = {}
        for entry in [*self.spec.get("initContainers", []), *self.spec["containers"]]:
            for mount in entry.get("volumeMounts", []):
                self.mounts[mount["mountPath"]] = self.volumes[mount["name"]]

    def local(self, text: str) -> str:
        """``text`` with each mount path (the longest first) replaced by its volume's directory."""
        for mount_path in sorted(self.mounts, key=len, reverse=True):
            text = text.replace(mount_path, str(self.mounts[mount_path]))
        return text

    def environment(
        self,
        entry: Document,
        base: Mapping[str, str],
        org: SalesforceEmulator,
        key_file: Path,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, str]:
        """``base`` plus the ConfigMap's settings and the container's own ``env`` (paths moved,
        ``secretKeyRef`` from ``secrets``), the org and key the test's."""
        assert set(self.settings) <= SETTINGS, set(self.settings) - SETTINGS
        assert entry["envFrom"] == [{"configMapRef": {"name": self.config_map}}]
        env = dict(base)
        env.update({name: self.local(value) for name, value in self.settings.items()})
        for variable in entry.get("env", []):
            if "value" in variable:
                env[variable["name"]] = self.local(variable["value"])
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                env[variable["name"]] = (secrets or {})[ref["name"]][ref["key"]]
        env.update(
            SF_CREDPROC_CLIENT_ID=CLIENT_ID,
            SF_CREDPROC_USERNAME=USERNAME,
            SF_CREDPROC_LOGIN_URL=org.url,
            SF_CREDPROC_KEY=f"file:{key_file}",
        )
        return env

    def args(self, entry: Document) -> list[str]:
        """A sf-credproc container's arguments, paths moved (``command`` must be the program)."""
        assert entry["command"] == [EXE.name], entry["command"]
        return [self.local(arg) for arg in entry["args"]]


# -- the manifests ----------------------------------------------------------------------------------


def test_there_are_both_recipes() -> None:
    assert [path.name for path in MANIFESTS] == ["agent-sidecar.yaml", "serve-in-pod.yaml"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_is_valid_offline(path: Path) -> None:
    for document in documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    # Strict: a field the API does not know is an error, not silently dropped by the server.
    broken = copy.deepcopy(one_of(path, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_container_is_locked_down(path: Path) -> None:
    pod = pod_spec(path)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for entry in [*pod.get("initContainers", []), *pod["containers"]]:
        context = entry["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, entry["name"]
        assert context["readOnlyRootFilesystem"] is True, entry["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, entry["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(entry["resources"][bound]), (entry["name"], bound)
        if entry["name"] == "app":  # the application reads the credential, never writes it
            for mount in entry["volumeMounts"]:
                assert mount["readOnly"] is True, mount


# -- the agent sidecar --------------------------------------------------------------------------


def test_agent_init_container_and_sidecar_write_the_files(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    pod = Pod(KUBERNETES / "agent-sidecar.yaml", tmp_path)
    app = container(pod.spec, "app")
    credential_file = Path(pod.local(app["env"][0]["value"]))
    token_file = credential_file.with_name("access-token")

    init_container = container(pod.spec, "sf-credproc-init", init=True)
    init = run_process(
        pod.args(init_container), pod.environment(init_container, env, org, key_file)
    )
    assert init.code == 0, init.stderr
    document = json.loads(credential_file.read_text())
    assert document["AccessToken"] in org.sessions
    assert token_file.read_text() == document["AccessToken"] + "\n"
    for path in (credential_file, token_file):
        assert path.stat().st_mode & 0o777 == 0o600, path
    first_write = credential_file.stat().st_ino

    sidecar = container(pod.spec, "sf-credproc-agent")
    sidecar_env = pod.environment(sidecar, env, org, key_file)
    with ServeProcess(
        pod.args(sidecar), sidecar_env, token_in_env=False, wait_for_url=False
    ) as agent:
        # The sidecar's first write replaces the file (a new inode: the atomic rename).
        wait_until(lambda: credential_file.stat().st_ino != first_write, "the sidecar's write")
        assert json.loads(credential_file.read_text()) == document
        assert agent.running()
        agent.terminate()
        assert agent.wait() == 0
    # The init container's login, found by the sidecar in the shared cache volume.
    assert org.token_request_count == 1
    assert sorted(p.name for p in credential_file.parent.iterdir()) == [
        "access-token",
        "credential.json",
    ]


# -- the endpoint in the pod --------------------------------------------------------------------


def secret_volume(directory: Path, items: Mapping[str, str], mode: int) -> None:
    """A Secret volume as kubelet lays it out: the files in a timestamped directory, ``..data``
    a link to it, each name a link through ``..data`` (so that an update is one rename)."""
    stamped = directory / "..2026_01_01_00_00_00.000000000"
    stamped.mkdir()
    for name, value in items.items():
        (stamped / name).write_text(value)
        (stamped / name).chmod(mode)
        os.symlink(f"..data/{name}", directory / name)
    os.symlink(stamped.name, directory / "..data")


def test_serve_in_the_pod_is_ready_and_serves_the_app(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    pod = Pod(KUBERNETES / "serve-in-pod.yaml", tmp_path)
    token = new_server_token()
    volume = next(v["secret"] for v in pod.spec["volumes"] if v["name"] == "server-token")
    secrets = {volume["secretName"]: {"token": token + "\n"}}
    # As kubelet writes it for a pod with fsGroup: group-readable (0440), through links.
    assert volume["defaultMode"] == 0o440
    secret_volume(pod.volumes["server-token"], secrets[volume["secretName"]], 0o440)

    entry = container(pod.spec, "sf-credproc")
    serve_env = pod.environment(entry, env, org, key_file, secrets)
    args = [arg.replace(f"127.0.0.1:{POD_PORT}", "127.0.0.1:0") for arg in pod.args(entry)]
    with ServeProcess(args, serve_env, token_in_env=False) as server:
        server.token = token
        probe = [
            arg.replace(f"127.0.0.1:{POD_PORT}", f"127.0.0.1:{server.port}")
            for arg in entry["readinessProbe"]["exec"]["command"]
        ]

        def ready() -> bool:
            done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
            return done.returncode == 0

        wait_until(ready, "the readiness probe passing")

        # The application container's view: the URL and the token file its env names.
        app_env = {v["name"]: v["value"] for v in container(pod.spec, "app")["env"]}
        url = app_env["SF_CREDPROC_SERVER_URL"].replace(POD_PORT, str(server.port))
        app_token = Path(pod.local(app_env["SF_CREDPROC_SERVER_TOKEN_FILE"])).read_text().strip()
        document = get_json(url, app_token).json()
        assert document["AccessToken"] in org.sessions
        assert get_json(url, "not-the-token").status == 401
    assert org.token_request_count == 1
