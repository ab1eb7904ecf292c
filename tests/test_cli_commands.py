"""The command line's funnel, run in-process: one table of commands, the hard deadline armed where
settings resolve, ``exec`` replacing the process without a timer, and every command's own lines
shaped by ``--log-format``. ``doctor`` applies the product's own rules (cache directory, clock)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from helpers import CLIENT_ID, USERNAME, Run, get_args, pem_private, run_cli, under_load
from trickling_server import trickling_server

from sf_credproc.cli.main import COMMANDS
from sf_credproc.cli.parser import build_parser
from sf_credproc.clock import SystemClock
from sf_credproc.emulator import SalesforceEmulator


class ShiftedClock:
    """This machine's wall clock ``offset`` seconds off; the real monotonic clock for deadlines."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (fails on a line that is not one)."""
    return [json.loads(line) for line in stderr.splitlines()]


def test_every_command_of_the_parser_has_its_entry_in_the_table() -> None:
    (subcommands,) = (
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    commands = set(subcommands.choices)
    assert {name.split()[0] for name in COMMANDS} == commands
    cache = subcommands.choices["cache"]
    (actions,) = (a for a in cache._actions if isinstance(a, argparse._SubParsersAction))
    assert {f"cache {action}" for action in actions.choices} <= set(COMMANDS)


def test_no_command_prints_the_help_and_cache_without_an_action_is_a_usage_error(
    tmp_path: Path,
) -> None:
    bare = run_cli([], {"HOME": str(tmp_path)})
    assert bare.code == 2
    assert bare.stdout == ""
    assert "usage: sf-credproc" in bare.stderr
    run_cli(["cache"], {"HOME": str(tmp_path)}).assert_failed(2, "cache needs an action")


@contextlib.contextmanager
def signals_untouched() -> Iterator[None]:
    """Asserts that the block leaves no interval timer armed and SIGTERM's handler as it was."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_funnel_leaves_no_timer_and_no_signal_handler_behind(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    with signals_untouched():
        assert run_cli(get_args(org, key), env).code == 0
    with signals_untouched():  # a failure after the deadline was armed
        run = run_cli(get_args(org, "file:/nonexistent/key.pem", "--no-cache"), env)
        assert run.code == 3
    with signals_untouched():
        assert run_cli(["cert", "--key", key], env).code == 0


def test_exec_replaces_the_process_disarmed_and_without_the_key(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """An interval timer survives execve (it would kill the command); the env: key must not reach
    the command either."""
    seen: dict[str, Any] = {}

    def replace_process(program: str, argv: list[str], child_env: dict[str, str]) -> NoReturn:
        seen.update(program=program, argv=argv, env=child_env)
        seen["timer"] = signal.getitimer(signal.ITIMER_REAL)
        raise SystemExit(7)  # the command's own status, as a test's child would end

    env = {**env, "APP_KEY_PEM": key_file.read_text()}
    args = ["exec", *get_args(org, "env:APP_KEY_PEM")[1:], "--", "env", "-0"]
    with signals_untouched():
        run = run_cli(args, env, replace_process=replace_process)
    assert run.code == 7
    assert run.stdout == "" and run.stderr == ""
    assert seen["timer"] == (0.0, 0.0)
    assert os.path.basename(seen["program"]) == "env" and seen["argv"] == ["env", "-0"]
    assert seen["env"]["SF_ACCESS_TOKEN"] in org.sessions
    assert "APP_KEY_PEM" not in seen["env"]


def test_cert_lines_honour_the_log_format(env: dict[str, str], key: str) -> None:
    text = run_cli(["cert", "--key", key], env)
    assert text.code == 0
    assert text.stdout.startswith("-----BEGIN CERTIFICATE-----")
    first, second = text.stderr.splitlines()
    assert first.startswith(f"sf-credproc: certificate for {key} (CN=sf-credproc, valid until ")
    assert second.startswith("sf-credproc: next, upload")
    as_json = run_cli(["cert", "--key", key], {**env, "SF_CREDPROC_LOG_FORMAT": "json"})
    assert as_json.code == 0
    assert as_json.stdout.startswith("-----BEGIN CERTIFICATE-----")
    lines = json_lines(as_json.stderr)
    assert [(line["level"], line["event"]) for line in lines] == [("info", "cert")] * 2
    assert lines[0]["message"].startswith(f"certificate for {key} (CN=sf-credproc")
    assert lines[0]["fingerprint"] in lines[0]["message"]
    assert lines[1]["message"] == second.removeprefix("sf-credproc: ")


def test_logout_and_cache_clear_lines_honour_the_log_format(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    identity = get_args(org, key)[1:]
    assert run_cli(get_args(org, key), env).code == 0
    logout = run_cli(["logout", *identity, "--log-format", "json"], env)
    assert logout.code == 0
    (line,) = json_lines(logout.stderr)
    assert line["event"] == "logout" and line["level"] == "info"
    assert line["message"] == f"the session of {USERNAME} revoked; cache entry deleted"
    clear = run_cli(["cache", "clear", *identity], env)
    assert clear.code == 0
    assert clear.stderr == f"sf-credproc: no cached token for {USERNAME} at {org.url}\n"
    clear_json = run_cli(["cache", "clear", *identity, "--log-format", "json"], env)
    (line,) = json_lines(clear_json.stderr)
    assert line["event"] == "cache"
    assert line["message"] == f"no cached token for {USERNAME} at {org.url}"


def test_demo_runs_get_itself_and_speaks_through_the_handler(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin")}
    text = run_cli(["demo"], env)
    assert text.code == 0, text.stderr
    assert json.loads(text.stdout)["Username"] == "integration@demo.sf-credproc.example"
    (line,) = text.stderr.splitlines()
    assert line.startswith("sf-credproc demo: emulated Salesforce at http://127.0.0.1:")
    # The user's SF_CREDPROC_* settings do not steer the demo's get, but the log format of the
    # command the user typed shapes the demo's line.
    as_json = run_cli(["demo"], {**env, "SF_CREDPROC_LOG_FORMAT": "json"})
    assert as_json.code == 0, as_json.stderr
    (event,) = json_lines(as_json.stderr)
    assert event["event"] == "demo"
    assert event["message"].startswith(f"emulated Salesforce at {event['url']} until the demo")


def doctor_report(run: Run) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in json.loads(run.stdout)["checks"]}


def test_doctor_reads_the_servers_date_against_the_clock_it_is_given(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    args = ["doctor", *get_args(org, key)[1:], "--json"]
    fine = doctor_report(run_cli(args, env, clock=ShiftedClock(0)))
    assert fine["clock"]["status"] == "ok"
    run = run_cli(args, env, clock=ShiftedClock(600))
    report = doctor_report(run)
    assert run.code == 4  # the first failed check: the clock
    assert report["clock"]["status"] == "FAILED"
    assert "ahead of the token endpoint's" in report["clock"]["detail"]
    assert 590 <= int(report["clock"]["detail"].split()[4]) <= 610


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_open_directory(path: Path) -> None:
    path.mkdir()
    path.chmod(0o777)


def make_foreign_directory(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, 54321, 54321)


@pytest.mark.parametrize(
    ("make", "doctor_says", "get_says"),
    [
        (make_fifo, "is not a directory", "is a FIFO (named pipe), not a directory"),
        (make_open_directory, "is writable by group or others (drwxrwxrwx)", "writable by others"),
        (make_foreign_directory, "belongs to uid 54321, not this user", "not owned by this user"),
    ],
)
def test_doctor_refuses_the_cache_directories_get_refuses(
    org: SalesforceEmulator,
    env: dict[str, str],
    key: str,
    tmp_path: Path,
    make: Any,
    doctor_says: str,
    get_says: str,
) -> None:
    if make is make_foreign_directory and os.getuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    cache_dir = tmp_path / "token-cache"
    make(cache_dir)
    args = [*get_args(org, key)[1:], "--cache-dir", str(cache_dir)]
    doctor = run_cli(["doctor", *args, "--json"], env)
    assert doctor.code == 2
    check = doctor_report(doctor)["cache"]
    assert check["status"] == "FAILED" and check["exit_status"] == 2
    assert check["detail"] == f"{cache_dir} {doctor_says}"
    run_cli(["get", *args], env).assert_failed(2, get_says)


def test_doctor_and_get_accept_a_private_cache_directory(
    org: SalesforceEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "token-cache"
    cache_dir.mkdir(mode=0o700)
    args = [*get_args(org, key)[1:], "--cache-dir", str(cache_dir)]
    doctor = run_cli(["doctor", *args, "--json"], env)
    assert doctor.code == 0, doctor.stdout
    assert doctor_report(doctor)["cache"]["detail"].startswith(f"{cache_dir} (drwx------")
    assert run_cli(["get", *args], env).code == 0


def test_doctor_is_cut_at_its_deadline_by_the_same_watchdog(
    env: dict[str, str], key_file: Path
) -> None:
    """The clock check's GET meets a server trickling its headers: no read timeout trips, the
    hard deadline armed by the funnel ends it, and the report still comes out."""
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 200
    started = time.monotonic()
    with trickling_server(head, seconds_per_byte=0.2) as url, signals_untouched():
        args = ["doctor", "--client-id", CLIENT_ID, "--username", USERNAME, "--login-url", url]
        run = run_cli([*args, "--key", f"file:{key_file}", "--timeout", "2", "--json"], env)
    elapsed = time.monotonic() - started
    assert run.code == 5
    assert "the 2 s deadline passed" in doctor_report(run)["clock"]["detail"]
    # The trickled head alone would take 40 s: well under that is the cut, with room for a loaded
    # machine's start-up (a tighter bound measured the machine, not the deadline).
    assert elapsed < 2 + under_load(8)


def test_a_private_key_never_reaches_a_status_line(
    env: dict[str, str], key_file: Path, tmp_path: Path
) -> None:
    """``cert`` names its key source, never the key: with the PEM in the environment too."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env = {**env, "CERT_KEY": pem_private(other).decode()}
    run = run_cli(["cert", "--key", "env:CERT_KEY", "--out", str(tmp_path / "c.pem")], env)
    assert run.code == 0
    assert run.stdout == ""
    assert run.stderr.startswith("sf-credproc: certificate for env:CERT_KEY (")


def test_the_context_never_shows_the_environment(tmp_path: Path) -> None:
    from sf_credproc.cli.context import CommandContext
    from sf_credproc.cli.stderr_log import StderrHandler

    def never(program: str, argv: list[str], env: dict[str, str]) -> NoReturn:
        raise AssertionError("not called")

    context = CommandContext(
        environ={"SF_CREDPROC_KEY_PASSPHRASE": "correct horse battery staple"},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        clock=SystemClock(),
        replace_process=never,
        log=StderrHandler(io.StringIO()),
        settings_resolver=lambda flags, environ, clock, *, needs: pytest.fail("not called"),
    )
    assert "correct horse" not in repr(context)
    assert "clock=" in repr(context)


def cli_imports() -> dict[str, set[str]]:
    """Each ``sf_credproc.cli`` module and the ``cli`` modules it imports, anywhere in its body
    (function-local and ``TYPE_CHECKING`` imports included)."""
    import ast

    import sf_credproc.cli

    package = Path(sf_credproc.cli.__file__).parent
    names = {path.stem for path in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    edges.add(node.module.split(".")[0])
                else:
                    edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "sf_credproc.cli."
            ):
                edges.add(str(node.module).split(".")[2])
        graph[path.stem] = edges & names
    return graph


def test_no_import_cycle_in_the_command_line() -> None:
    """``demo`` calls ``get``'s function; nothing under ``cli/`` re-enters ``cli.main``."""
    graph = cli_imports()
    assert "get_command" in graph["demo"]
    assert not any("main" in edges for name, edges in graph.items() if name != "launch")
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for follower in sorted(graph[name]):
            assert state.get(follower) != "open", " -> ".join([*path, name, follower])
            if follower not in state:
                visit(follower, [*path, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_a_profiles_log_format_shapes_the_lines_after_the_settings_resolve(
    org: SalesforceEmulator, env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profile.default]\nlog_format = "json"\n')
    env = {**env, "SF_CREDPROC_CONFIG": str(config)}
    args = get_args(org, f"file:{tmp_path / 'missing.pem'}", "--no-cache")
    run = run_cli(args, env)
    assert run.code == 3
    (line,) = json_lines(run.stderr)
    assert line["level"] == "error" and line["exit_code"] == 3
    assert "missing.pem" in line["message"]
    flag_wins = run_cli([*args, "--log-format", "text"], env)
    flag_wins.assert_failed(3, "missing.pem")
