"""Signer plugins that misbehave (``plugins/hostile_signer.py``): every one ends in one line, the
documented exit code and nothing on stdout, within the deadline; a plugin never sees our secrets
and its stderr is never shown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import SECRETS, get_args, run_cli, under_load
from plugin_fixtures import STDERR_MARKER, PluginBin, plugin_bin

from sf_credproc.emulator import SalesforceEmulator


@pytest.fixture
def plugins(env: dict[str, str], tmp_path: Path, key_file: Path) -> PluginBin:
    """The hostile plugin installed as ``sf-credproc-signer-hostile`` (``hostile:MODE``)."""
    bin_ = plugin_bin(env, tmp_path, key_file)
    bin_.install("hostile")
    return bin_


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("garbage", "answered no JSON"),
        ("empty", "answered no JSON"),
        ("nested", "answered no JSON"),
        ("array", "answered JSON that is not an object"),
        ("no-version", "answered protocol version none, not 1"),
        ("version-2", "answered protocol version 2, not 1"),
        ("no-error-object", "exited with status 7 and no error object"),
        ("unknown-kind", "an error whose kind is not key-source, transient or configuration"),
        ("not-base64", "answered a signature that is not standard base64"),
        ("short-signature", "returned a 128-bit signature, not an RSA signature"),
    ],
)
def test_answers_that_break_the_protocol(
    mode: str, needle: str, plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    run = run_cli(get_args(org, f"hostile:{mode}"), env)
    run.assert_failed(3, needle)
    assert "sf-credproc-signer-hostile" in run.stderr
    assert org.token_requests == []


@pytest.mark.parametrize(
    ("kind", "code"), [("key-source", 3), ("transient", 5), ("configuration", 2)]
)
def test_error_kinds_and_their_exit_codes(
    kind: str, code: int, plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """The message is shown on one line of printable text, bounded: no line break, no escape."""
    run = run_cli(get_args(org, f"hostile:error-{kind}"), env)
    run.assert_failed(code, "failed: the HSM said no second line")
    assert "\x1b" not in run.stderr and "\x00" not in run.stderr
    assert "x" * 400 not in run.stderr and "x" * 200 in run.stderr
    # A transient error is retried (a few attempts, within the deadline); the others are not.
    assert len(plugins.requests()) == (4 if kind == "transient" else 1)


def test_a_transient_error_is_retried(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    run = run_cli(get_args(org, "hostile:flaky", "--no-cache"), env)
    assert run.credential()["AccessToken"] in org.sessions
    assert len(plugins.requests()) == 2
    assert len(org.token_requests) == 1


def process_gone(pid: int, within: float = 5.0) -> bool:
    """No process ``pid`` (or only its zombie, dead and waiting to be reaped) within ``within``
    seconds: SIGKILL is sent to a whole group at once, but a loaded machine takes a moment to
    finish off a process that is not our child."""
    give_up_at = time.monotonic() + within
    while True:
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if status.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > give_up_at:
            return False
        time.sleep(0.05)


def test_a_hung_plugin_is_killed_with_its_children(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    started = time.monotonic()
    run = run_cli(get_args(org, "hostile:hang", "--timeout", "2"), env)
    elapsed = time.monotonic() - started
    run.assert_failed(5, "did not answer within the 2 s deadline", "raise --timeout")
    assert elapsed < 2 + under_load(6)
    pids = [int(pid) for pid in (plugins.state / "pids").read_text().split()]
    assert len(pids) == 2  # the plugin and the sleep it left holding stdout
    assert all(process_gone(pid) for pid in pids)


def test_a_runaway_output_is_cut_off(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """The plugin writes without end: reading stops past 64 KiB, long before the deadline."""
    started = time.monotonic()
    run = run_cli(get_args(org, "hostile:huge", "--timeout", "20"), env)
    run.assert_failed(3, "answered more than 64 KiB")
    assert time.monotonic() - started < 8
    assert process_gone(int((plugins.state / "pids").read_text()))


def test_a_signature_by_another_key(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    """Salesforce refuses the assertion (exit 4); cert refuses a certificate whose signature its
    own public key does not verify, and doctor names the mismatch (exit 3)."""
    run_cli(get_args(org, "hostile:wrong-signature"), env).assert_failed(4, "invalid assertion")
    run_cli(["cert", "--key", "hostile:wrong-signature"], env).assert_failed(3)
    doctor = run_cli(["doctor", *get_args(org, "hostile:wrong-signature")[1:], "--json"], env)
    checks = {check["name"]: check for check in json.loads(doctor.stdout)["checks"]}
    assert checks["public key"]["status"] == "FAILED"
    assert "signs with another key than the public key it reports" in checks["public key"]["detail"]
    assert doctor.code == 3


def test_a_public_key_that_is_not_rsa(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    run_cli(["cert", "--key", "hostile:ec-public-key"], env).assert_failed(
        3, "is not an RSA key", "RSA key"
    )


@pytest.mark.parametrize("mode", ["good", "error-key-source"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_plugins_stderr_is_never_shown(
    mode: str, log_format: str, plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    run = run_cli(get_args(org, f"hostile:{mode}", "-v", "--log-format", log_format), env)
    assert run.code == (0 if mode == "good" else 3), run.stderr
    assert plugins.ran()
    assert STDERR_MARKER not in run.stderr + run.stdout
    assert "sf-credproc-signer-hostile" in run.stderr  # -v says which plugin ran


def test_the_plugin_gets_none_of_our_secrets(
    plugins: PluginBin, org: SalesforceEmulator, env: dict[str, str]
) -> None:
    secrets = {
        "SF_CREDPROC_KEY_PASSPHRASE": "plugin-test-passphrase-31d9",
        "SF_CREDPROC_PKCS11_PIN": "plugin-test-pin-8842",
        "VAULT_TOKEN": "hvs.plugin-test-token-5be0",
        "SF_CREDPROC_VAULT_SECRET_ID": "plugin-test-secret-id-77c1",
    }
    SECRETS.update(secrets.values())
    env.update(secrets)
    run_cli(get_args(org, "hostile:good", "--no-cache"), env).credential()
    names = set(plugins.read_json("environment.json"))
    assert names.isdisjoint(secrets)
    assert {"PATH", "HOME", "HOSTILE_STATE"} <= names  # the rest of the environment is passed on
