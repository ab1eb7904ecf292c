"""The option spec is the one source: parsers, --help, profile keys, API keywords, the fast path's
key and the README table all agree with it, and every command honours --log-format."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import CLIENT_ID, USERNAME, base_env, get_args, run_cli

from sf_credproc import __version__, fast_path, get_credential
from sf_credproc.cli.parser import build_parser, parser_for
from sf_credproc.cli.stderr_log import LOG_FORMATS
from sf_credproc.config.commands import COMMAND_OPTIONS
from sf_credproc.config.option import Kind
from sf_credproc.config.options import (
    GET_OPTIONS,
    OPTIONS_BY_NAME,
    PROFILE_KEYS,
    default_min_ttl,
    fast_path_environment,
)
from sf_credproc.config.settings import Settings, resolve_settings
from sf_credproc.config.settings_table import render_settings_table
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.errors import ConfigError
from sf_credproc.formats import FORMATS

README = Path(__file__).resolve().parent.parent / "README.md"


def write_profile(env: dict[str, str], text: str) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- Generated from the spec ---------------------------------------------------------------


def test_the_readme_settings_table_is_the_spec() -> None:
    readme = README.read_text()
    start = readme.index("| flag | environment variable |")
    table = readme[start : readme.index("\n\n", start) + 1]
    assert table == render_settings_table(), (
        "README's settings table drifted from config/options.py: paste the output of "
        "python -m sf_credproc.config.settings_table"
    )


def test_the_fast_path_keys_on_the_variables_the_spec_says_decide_the_output() -> None:
    assert fast_path_environment() == fast_path.KEY_ENVIRONMENT
    # The passphrase decides nothing about which token, and an index must never hold it.
    assert "SF_CREDPROC_KEY_PASSPHRASE" not in fast_path.KEY_ENVIRONMENT
    assert "SF_CREDPROC_LOG_FORMAT" not in fast_path.KEY_ENVIRONMENT  # stderr only


def test_the_choices_are_the_ones_the_output_code_knows() -> None:
    assert OPTIONS_BY_NAME["format"].choices == FORMATS
    assert OPTIONS_BY_NAME["log_format"].choices == LOG_FORMATS


def test_profile_keys_are_the_settings() -> None:
    assert {option.name for option in GET_OPTIONS} == PROFILE_KEYS


@pytest.mark.parametrize("command", sorted(COMMAND_OPTIONS))
def test_every_command_parses_its_spec_options_and_the_log_format(command: str) -> None:
    words = command.split()
    options = COMMAND_OPTIONS[command]
    assert "log_format" in {option.name for option in options}
    args = [*words, "--log-format", "json"]
    for option in options:
        if option.kind is Kind.SWITCH and option.flag:
            args.append(option.flag)
    parsed = vars(build_parser().parse_args(args))
    assert parsed["log_format"] == "json"
    for option in options:
        if option.kind is Kind.SWITCH:
            assert parsed[option.name] is True
        elif option.kind is Kind.INTEGER:
            assert parsed[option.name] == option.default
        elif option.name != "log_format" and (option.env is not None or option.default is None):
            # Settings arrive unset: the resolver applies the default after env and profile.
            assert parsed[option.name] is None, option.name


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser ``words`` name inside ``parser``."""
    for word in words:
        parser = next(
            action.choices[word]
            for action in parser._actions
            if isinstance(action.choices, dict) and word in action.choices
        )
    return parser


@pytest.mark.parametrize("command", sorted(COMMAND_OPTIONS))
def test_the_parser_of_one_command_is_the_whole_parsers_for_that_command(command: str) -> None:
    """A run builds only its command's parser (``parser_for``): the same help page, the same
    options and the same parse as the whole command line's, so no command can behave otherwise
    on its own."""
    words = command.split()
    args = [*words, "--log-format", "json"]
    for option in COMMAND_OPTIONS[command]:
        if option.kind is Kind.SWITCH and option.flag:
            args.append(option.flag)
    whole, own = build_parser(), parser_for(args)
    commands = next(a.choices for a in own._actions if isinstance(a.choices, dict))
    assert list(commands) == words[:1], "parser_for built more than the command's own parser"
    assert _subparser(own, words).format_help() == _subparser(whole, words).format_help()
    assert vars(own.parse_args(args)) == vars(whole.parse_args(args))


def test_a_command_line_without_a_known_command_gets_the_whole_parser() -> None:
    whole_help = build_parser().format_help()
    for argv in ([], ["--help"], ["--version"], ["gte", "--no-cache"]):
        assert parser_for(argv).format_help() == whole_help
    assert "emulator" not in parser_for(["get"]).format_help()


def help_text(env: dict[str, str], *words: str) -> str:
    """``--help`` of a command, run in-process (argparse prints it on stdout)."""
    run = run_cli([*words, "--help"], env)
    assert run.code == 0, run.stderr
    return " ".join(run.stdout.split())


def test_help_states_each_default_as_the_spec_types_it(
    tmp_path: Path,
) -> None:
    text = help_text(base_env(tmp_path), "get")
    session_ttl, timeout = OPTIONS_BY_NAME["session_ttl"], OPTIONS_BY_NAME["timeout"]
    assert f"[env {session_ttl.env}; default: {session_ttl.default}]" in text
    assert f"[env {timeout.env}; default: 30]" in text  # the float 30.0, shown as the README does
    listing = help_text(base_env(tmp_path), "cache", "list")
    assert "default: min(900, session TTL / 4)" in listing
    assert "SF_CREDPROC_SESSION_TTL; default: 7200" in listing
    assert "--log-format" in help_text(base_env(tmp_path), "cert")


def test_unset_settings_take_the_typed_defaults_of_the_spec(tmp_path: Path) -> None:
    flags: dict[str, Any] = {"client_id": "c", "username": "u", "key": "kms:alias/k"}
    settings = resolve_settings(flags, base_env(tmp_path))
    assert settings.session_ttl_seconds == OPTIONS_BY_NAME["session_ttl"].default == 7200
    assert settings.timeout_seconds == OPTIONS_BY_NAME["timeout"].default == 30.0
    assert settings.min_ttl_seconds == default_min_ttl(7200) == 900
    assert settings.output_format == "json" and settings.log_format == "text"
    assert settings.login_url.base == OPTIONS_BY_NAME["login_url"].default
    short = resolve_settings({**flags, "session_ttl": "900"}, base_env(tmp_path))
    assert short.min_ttl_seconds == default_min_ttl(900) == 225


# --- Python API errors name keyword arguments ------------------------------------------------


def python_error(tmp_path: Path, **options: Any) -> str:
    identity = {"client_id": CLIENT_ID, "username": USERNAME, "key": "kms:alias/k"}
    with pytest.raises(ConfigError) as raised:
        Settings.from_profile(environ=base_env(tmp_path), **{**identity, **options})
    return str(raised.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"session_ttl": 0}, "session_ttl=0 (from session_ttl=) is out of range"),
        ({"timeout": "soon"}, "timeout='soon' (from timeout=) is not a number of seconds"),
        (
            {"session_ttl": 900, "min_ttl": 900},
            "min_ttl=900 (from min_ttl=) is not below session_ttl=900",
        ),
        ({"format": "xml"}, "format='xml' (from format=) is not one of"),
        ({"log_format": "xml"}, "log_format='xml' (from log_format=)"),
        ({"region": "Mars"}, "region='Mars' (from region=) is not an AWS region name"),
        (
            {"key": "kms:arn:aws:kms:eu-west-1:111122223333:alias/k", "region": "us-east-1"},
            "key=kms:arn:aws:kms:eu-west-1:111122223333:alias/k is in region eu-west-1 but "
            "region= (from region=) is us-east-1",
        ),
        ({"trusted_hosts": ["*.com"]}, "trusted_hosts='*.com' (from trusted_hosts=)"),
        ({"login_url": "http://evil.example"}, "login_url='http://evil.example' (from login_url=)"),
        ({"login_url": "https://evil.example"}, "login_url host 'evil.example' (from login_url=)"),
        ({"shared_cache": "redis://x"}, "shared_cache='redis://x' (from shared_cache=)"),
        ({"shared_cache": "dynamodb://table"}, "shared_cache= needs shared_cache_key="),
        ({"username": ""}, "username= (from username=) must be a non-empty string"),
        ({"key": "kms:"}, "key='kms:' (from key=) names no kms key"),
    ],
)
def test_python_errors_name_the_keyword_argument(
    tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    message = python_error(tmp_path, **options)
    assert named in message
    assert not re.search(
        r"--(session-ttl|timeout|min-ttl|format|log-format|region|login-url|key\b)", message
    )


def test_get_credential_names_a_missing_keyword(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        get_credential(environ=base_env(tmp_path), client_id=CLIENT_ID, key="kms:alias/k")
    assert raised.value.message == "username= is required"
    assert "Pass username=, set SF_CREDPROC_USERNAME" in (raised.value.hint or "")


def test_the_same_value_from_a_flag_or_the_environment_still_names_the_flag(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    flag = run_cli(["get", "--client-id", "c", "--username", "u", "--key", "kms:alias/k",
                   "--session-ttl", "0"], env)  # fmt: skip
    flag.assert_failed(2, "--session-ttl '0' (from --session-ttl) is out of range")
    env["SF_CREDPROC_SESSION_TTL"] = "0"
    from_env = run_cli(["get", "--client-id", "c", "--username", "u", "--key", "kms:alias/k"], env)
    from_env.assert_failed(2, "--session-ttl '0' (from SF_CREDPROC_SESSION_TTL) is out of range")


# --- The log format: flag > env > profile > default, for every command -------------------------


def failure_record(stderr: str) -> dict[str, Any]:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    record: dict[str, Any] = json.loads(lines[0])
    assert record["level"] == "error" and record["event"] == "failed"
    return record


def test_a_profile_log_format_makes_the_failure_line_json(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    write_profile(env, '[profile.default]\nlog_format = "json"\nclient_id = "c"\n')
    run = run_cli(["get", "--username", "u"], env)  # no key: a configuration error
    assert run.code == 2 and run.stdout == ""
    record = failure_record(run.stderr)
    assert record["message"].startswith("--key is required") and record["exit_code"] == 2
    # The flag and the variable still come first.
    text = run_cli(["get", "--username", "u", "--log-format", "text"], env)
    text.assert_failed(2, "--key is required")
    env["SF_CREDPROC_LOG_FORMAT"] = "text"
    run_cli(["get", "--username", "u"], env).assert_failed(2, "--key is required")


def test_a_named_profile_log_format_applies(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    write_profile(env, '[profile.ci]\nlog_format = "json"\n\n[profile.default]\nclient_id = "c"\n')
    failure_record(run_cli(["logout", "--profile", "ci"], env).stderr)
    run_cli(["logout"], env).assert_failed(2, "--username is required")


def test_a_broken_config_file_is_reported_in_the_format_the_flag_asks(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    write_profile(env, "[profile.default\n")
    record = failure_record(run_cli(["cache", "list", "--log-format", "json"], env).stderr)
    assert "is not valid TOML" in record["message"]
    run_cli(["cache", "list"], env).assert_failed(2, "is not valid TOML")


@pytest.mark.parametrize(
    "command",
    [
        ["get"],
        ["exec", "--", "true"],
        ["logout"],
        ["cache", "clear"],
        ["cache", "clear", "--all"],
        ["cache", "list"],
        ["cert"],
    ],
)
def test_every_command_honours_the_log_format_flag(tmp_path: Path, command: list[str]) -> None:
    words = command[: command.index("--")] if "--" in command else command
    rest = command[len(words) :]
    run = run_cli(
        [*words, "--log-format", "json", "--profile", "missing", *rest], base_env(tmp_path)
    )
    assert run.code == 2
    assert "profile 'missing' (from --profile)" in failure_record(run.stderr)["message"]


def test_cache_list_checks_the_log_format_like_get(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "SF_CREDPROC_LOG_FORMAT": "xml"}
    run_cli(["cache", "list"], env).assert_failed(
        2, "--log-format 'xml' (from SF_CREDPROC_LOG_FORMAT) is not one of text, json"
    )


# --- The fast path's key holds the package version ----------------------------------------------


def test_the_fast_path_key_hashes_the_package_version_with_the_inputs(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    argv = ["get", "--client-id", "c"]
    key = fast_path.invocation_key(argv, env)
    assert key == fast_path.invocation_key(argv, env, version=__version__)
    older = fast_path.invocation_key(argv, env, version="0.0.1")
    assert older != key
    assert fast_path.index_path(older, env) != fast_path.index_path(key, env)


def test_an_index_written_by_another_version_is_not_served(
    org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    argv = get_args(org, key)
    run_cli(argv, env).credential()
    current = fast_path.invocation_key(argv, env)
    path = Path(fast_path.index_path(current, env))
    recorded = fast_path.cached_output(argv, env, time.time())
    assert recorded is not None and json.loads(recorded)["Username"] == USERNAME
    # The same index, as a release with another version (of the same length) would have keyed it,
    # found where this one looks: the stored key no longer matches, and the full command runs.
    older = fast_path.invocation_key(argv, env, version="0.0.1")
    assert len(older) == len(current) and current in path.read_bytes()
    path.write_bytes(path.read_bytes().replace(current, older))
    assert fast_path.cached_output(argv, env, time.time()) is None
