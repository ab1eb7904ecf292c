"""Each recipe of the README runs as written: examples/ against the emulator (and moto)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import Aws
from connect_proxy import ConnectProxy
from cryptography.hazmat.primitives import serialization
from helpers import CLIENT_ID, USERNAME, run_cli

from sf_credproc.emulator import SalesforceEmulator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def job_environment(
    monkeypatch: pytest.MonkeyPatch,
    org: SalesforceEmulator,
    env: dict[str, str],
    key_file: Path,
    tmp_path: Path,
) -> dict[str, str]:
    """The environment a scheduled job gets: settings in SF_CREDPROC_* variables."""
    variables = {
        **env,
        "SF_CREDPROC_CLIENT_ID": CLIENT_ID,
        "SF_CREDPROC_USERNAME": USERNAME,
        "SF_CREDPROC_LOGIN_URL": org.url,
        "SF_CREDPROC_KEY": f"file:{key_file}",
        "SF_CREDPROC_CACHE_DIR": str(tmp_path / "lambda-tmp"),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def test_lambda_handler(job_environment: dict[str, str], org: SalesforceEmulator) -> None:
    module = load("lambda_handler")
    for _ in range(3):  # a cold start, then warm invocations
        result = module.handler({}, None)
        assert result == {"organization": "sf-credproc emulated org", "user": USERNAME}
    assert org.token_request_count == 1
    assert Path(job_environment["SF_CREDPROC_CACHE_DIR"]).is_dir()


def test_airflow_style_task(
    job_environment: dict[str, str], org: SalesforceEmulator, key_file: Path
) -> None:
    config = Path(job_environment["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[profile.reports]\nclient_id = "{CLIENT_ID}"\nusername = "{USERNAME}"\n'
        f'login_url = "{org.url}"\nkey = "file:{key_file}"\n'
    )
    module = load("airflow_task")
    assert module.count_users("reports") == len(org.users) == 1


def test_simple_salesforce(job_environment: dict[str, str], org: SalesforceEmulator) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "simple_salesforce_query.py")],
        env=job_environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout == f"{org.org_id} sf-credproc emulated org\n"


@pytest.fixture
def proxy(org: SalesforceEmulator, env: dict[str, str]) -> Iterator[ConnectProxy]:
    tunnel = ConnectProxy(int(org.url.rsplit(":", 1)[1])).start()
    env["HTTPS_PROXY"] = tunnel.url
    yield tunnel
    tunnel.stop()


def test_github_actions_workflow(
    aws: Aws, org: SalesforceEmulator, env: dict[str, str], proxy: ConnectProxy, tmp_path: Path
) -> None:
    workflow: dict[str, Any] = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    assert workflow["permissions"]["id-token"] == "write"  # OIDC: no long-lived AWS secret
    steps = workflow["jobs"]["report"]["steps"]
    (assume,) = [
        s
        for s in steps
        if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")
    ]
    assert assume["with"]["role-to-assume"].startswith("arn:aws:iam::")
    (session_step,) = [s for s in steps if "sf-credproc get" in s.get("run", "")]
    assert "--format github" in session_step["run"] and "--key kms:" in session_step["run"]

    # Run that step as the runner would: the role's KMS key, GITHUB_ENV, the real host name.
    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/salesforce-jwt", TargetKeyId=key_id)
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    org.register_app(
        "ci-app",
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    org.add_user("ci@acme.example", approve=["ci-app"])
    github_env = tmp_path / "github_env"
    github_env.touch()
    step_env = {
        **env,
        "CLIENT_ID": "ci-app",
        "GITHUB_ENV": str(github_env),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", session_step["run"]],
        env=step_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("::add-mask::00D")
    assert "SF_ACCESS_TOKEN=00D" in github_env.read_text()
    assert proxy.requested_hosts == ["acme.my.salesforce.com:443"]
    assert run_cli(["--version"], env).code == 0
