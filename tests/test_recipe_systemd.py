"""The systemd recipe (examples/systemd/sf-credproc.service) run as written: its ``ExecStart``
line serves a credential, ``ExecReload`` re-reads the config file, ``KillSignal`` stops it with
exit 0; the server token reaches it through ``LoadCredential=``, never ``Environment=``. And the
README's install lines."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import CLIENT_ID, EXE, USERNAME
from readme_recipes import recipe
from serve_fixtures import ServeProcess, get_json, new_server_token, wait_ready

from sf_credproc.emulator import SalesforceEmulator

UNIT = Path(__file__).resolve().parents[1] / "examples" / "systemd" / "sf-credproc.service"
#: A unit: its sections, each directive with every value it is given (directives may repeat).
Unit = dict[str, dict[str, list[str]]]


def read_unit(path: Path) -> Unit:
    """A unit file's sections and directives (systemd.syntax(7)): ``Key=value`` lines, comments
    starting with # or ;, a directive repeatable (every value kept, in order)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"a directive before any section: {line!r}"
        assert not line.endswith("\\"), "continuation lines: this reader does not join them"
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, key: str) -> str:
    values = unit["Service"].get(key, [])
    assert len(values) == 1, (key, values)
    return values[0]


def command_line(line: str, variables: Mapping[str, str]) -> list[str]:
    """An ``Exec*=`` line as systemd runs it: ``${NAME}`` and ``$NAME`` replaced, then split into
    words (systemd.service(5), "Command lines"; no shell)."""
    expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m.group(1) or m.group(2)], line)
    return shlex.split(expanded)


def environment(unit: Unit) -> dict[str, str]:
    return dict(value.split("=", 1) for value in unit["Service"].get("Environment", []))


def test_the_server_token_is_a_credential_never_an_environment_variable() -> None:
    unit = read_unit(UNIT)
    service = unit["Service"]
    assert one(unit, "LoadCredential") == "server-token:/etc/sf-credproc/server-token"
    assert "--server-token-file ${CREDENTIALS_DIRECTORY}/server-token" in one(unit, "ExecStart")
    # `systemctl show` prints every Environment= to any local user: no token, nor its file.
    assert "EnvironmentFile" not in service
    for name, value in environment(unit).items():
        assert "TOKEN" not in name.upper(), name
        assert "server-token" not in value, name
    assert "SetCredential" not in service  # a value written into the unit file itself


def test_the_unit_is_hardened() -> None:
    unit = read_unit(UNIT)
    expected = {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet": "",
        "KillSignal": "SIGTERM",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }
    assert {key: one(unit, key) for key in expected} == expected
    assert "--listen 127.0.0.1:" in one(unit, "ExecStart")  # loopback only


def test_exec_start_serves_reloads_and_stops(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    unit = read_unit(UNIT)
    # What systemd prepares: the credentials directory (the token 0400, the service's own), the
    # cache directory, and the config file; at paths of this test.
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    token = new_server_token()
    (credentials / "server-token").write_text(token + "\n")
    (credentials / "server-token").chmod(0o400)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "config.toml"
    config.write_text(
        "[profile.default]\n"
        f'client_id = "{CLIENT_ID}"\n'
        f'username = "{USERNAME}"\n'
        f'login_url = "{org.url}"\n'
        f'key = "file:{key_file}"\n'
    )
    for name, value in environment(unit).items():
        env[name] = value.replace("/etc/sf-credproc", str(etc))
    assert env["SF_CREDPROC_CONFIG"] == str(config)

    words = command_line(
        one(unit, "ExecStart"),
        {"CREDENTIALS_DIRECTORY": str(credentials), "CACHE_DIRECTORY": str(cache)},
    )
    assert Path(words[0]).name == EXE.name
    args = [re.sub(r"^127\.0\.0\.1:\d+$", "127.0.0.1:0", word) for word in words[1:]]
    with ServeProcess(args, env, token_in_env=False) as server:
        server.token = token
        wait_ready(server.url)
        document = get_json(server.url, token).json()
        assert document["AccessToken"] in org.sessions
        assert list(cache.iterdir()), "the token cache is the unit's CacheDirectory="

        # ExecReload: SIGHUP re-reads the config file; a broken one is refused, the old kept.
        config.write_text("[profile.default\n")
        reload = command_line(one(unit, "ExecReload"), {"MAINPID": str(server.pid)})
        subprocess.run(reload, check=True, timeout=30)
        server.wait_for_stderr(
            lambda lines: any("keeping the previous ones" in line for line in lines),
            "the reload refused",
        )
        assert get_json(server.url, token).json() == document
        assert org.token_request_count == 1

        # KillSignal=SIGTERM: drained, exit 0 (systemd counts the stop as clean).
        server.signal(signal.Signals[one(unit, "KillSignal")])
        assert server.wait() == 0
    for line in server.stderr_lines():  # SF_CREDPROC_LOG_FORMAT=json: one object per line
        assert isinstance(json.loads(line), dict), line


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit is not verified by systemd")
    # verify checks that ExecStart's program exists: the installed console script stands in for
    # /usr/local/bin/sf-credproc; every other line is the recipe's.
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/sf-credproc " in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace("/usr/local/bin/sf-credproc", str(EXE)))
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


def test_install_lines(tmp_path: Path) -> None:
    """The README's install line as written, into a temporary directory standing in for
    ``/etc/systemd/system/``: the unit arrives whole, 0644. The ``systemctl`` line needs a running
    systemd as root, so it is checked, not run: it enables the unit by the name just installed."""
    install, enable = recipe("systemd-serve-install").lines()
    target = tmp_path / "system"
    target.mkdir()
    readme_target = "/etc/systemd/system/"
    assert install.endswith(f" {readme_target}"), install
    done = subprocess.run(
        ["sh", "-c", install.replace(readme_target, f"{target}/")],
        cwd=UNIT.parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    installed = target / UNIT.name
    assert installed.read_bytes() == UNIT.read_bytes()
    assert oct(installed.stat().st_mode & 0o7777) == "0o644"
    assert enable == f"systemctl daemon-reload && systemctl enable --now {UNIT.stem}"
