"""``pkcs11:`` keys: which module and PIN are used, and what is refused before any is loaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CLIENT_ID, SECRETS, USERNAME, run_cli
from softhsm import SoftHsm, softhsm, softhsm_env  # noqa: F401 (fixtures)

from sf_credproc.config.pkcs11_uri import Pkcs11Uri, parse_pkcs11_uri
from sf_credproc.errors import ConfigError, KeySourceError, TransientError
from sf_credproc.keys.pkcs11_module import translate_pkcs11_error


def cert(key: str, *extra: str) -> list[str]:
    return ["cert", "--key", key, *extra]


def pin_file(directory: Path, pin: str, name: str = "pin") -> Path:
    path = directory / name
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


# -- the module --------------------------------------------------------------------------------


def unsafe_modules(softhsm: SoftHsm, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    """Module paths that must never be loaded, each with the words of its refusal."""
    group_writable = tmp_path / "group-writable.so"
    shutil.copy(softhsm.module, group_writable)
    group_writable.chmod(0o775)
    foreign = tmp_path / "foreign.so"
    shutil.copy(softhsm.module, foreign)
    foreign.chmod(0o755)
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(foreign, 4242, 4242)
    open_directory = tmp_path / "open"
    open_directory.mkdir()
    open_directory.chmod(0o777)
    in_open_directory = open_directory / "module.so"
    shutil.copy(softhsm.module, in_open_directory)
    in_open_directory.chmod(0o755)
    cases = {
        "writable by group or others": str(group_writable),
        "is not an absolute path": "libsofthsm2.so",
        "is not a regular file": str(tmp_path),
        "No such file": str(tmp_path / "missing.so"),
        "directory": str(in_open_directory),
    }
    if os.geteuid() == 0:
        cases["neither root nor this user"] = str(foreign)
    return cases


def test_unsafe_module_paths_are_refused(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    softhsm_env["SF_CREDPROC_PKCS11_PIN"] = softhsm.pin
    for needle, path in unsafe_modules(softhsm, tmp_path).items():
        for key, extra in (
            (softhsm.uri(f"?module-path={path}"), ()),
            (softhsm.uri(), ("--pkcs11-module", path)),
        ):
            run = run_cli(cert(key, *extra), softhsm_env)
            run.assert_failed(2, needle, path)


def test_a_file_that_is_no_module_is_exit_2(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    fake = tmp_path / "not-a-module.so"
    fake.write_text("not a shared library\n")
    softhsm_env["SF_CREDPROC_PKCS11_PIN"] = softhsm.pin
    run = run_cli(cert(softhsm.uri(f"?module-path={fake}")), softhsm_env)
    run.assert_failed(2, f"the PKCS#11 module {fake} could not be loaded")


def test_the_uri_module_path_beats_the_setting(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    softhsm_env["SF_CREDPROC_PKCS11_PIN"] = softhsm.pin
    softhsm_env["SF_CREDPROC_PKCS11_MODULE"] = str(tmp_path / "nothing-here.so")
    good = run_cli(cert(softhsm.uri(f"?module-path={softhsm.module}")), softhsm_env)
    assert good.code == 0, good.stderr
    run_cli(cert(softhsm.uri()), softhsm_env).assert_failed(
        2, "nothing-here.so", "SF_CREDPROC_PKCS11_MODULE"
    )


def test_no_module_and_module_name_are_exit_2(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    run_cli(cert(softhsm.uri()), softhsm_env).assert_failed(
        2, "no PKCS#11 module is named", "--pkcs11-module"
    )
    run_cli(cert(softhsm.uri("?module-name=softhsm2")), softhsm_env).assert_failed(
        2, "module-name is not resolved", "module-path=/ABSOLUTE/PATH"
    )


def test_without_python_pkcs11_the_message_says_how_to_install_it(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    # A process in which python-pkcs11 cannot be imported, as where the extra is not installed.
    program = (
        "import sys; sys.modules['pkcs11'] = None; "
        "from sf_credproc.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *cert(softhsm.uri())],
        env={**softhsm_env, "SF_CREDPROC_PKCS11_MODULE": softhsm.module},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "sf-credproc: pkcs11: keys need python-pkcs11. pip install 'sf-credproc[pkcs11]'"
    )


# -- the PIN -----------------------------------------------------------------------------------


def test_pin_precedence(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The URI's pin-source, then --pkcs11-pin-file, then SF_CREDPROC_PKCS11_PIN."""
    SECRETS.add("wrong-pin-2718")
    good, bad = pin_file(tmp_path, softhsm.pin, "good"), pin_file(tmp_path, "wrong-pin-2718", "bad")
    env = {**softhsm_env, "SF_CREDPROC_PKCS11_MODULE": softhsm.module}
    cases = [
        (softhsm.uri(f"?pin-source=file:{good}"), ("--pkcs11-pin-file", str(bad)), "wrong-pin-2718", 0),
        (softhsm.uri(f"?pin-source=file://{good}"), (), None, 0),
        (softhsm.uri(f"?pin-source={good}"), (), None, 0),
        (softhsm.uri(f"?pin-source=file:{bad}"), ("--pkcs11-pin-file", str(good)), softhsm.pin, 3),
        (softhsm.uri(), ("--pkcs11-pin-file", str(good)), "wrong-pin-2718", 0),
        (softhsm.uri(), ("--pkcs11-pin-file", str(bad)), softhsm.pin, 3),
        (softhsm.uri(), (), softhsm.pin, 0),
    ]  # fmt: skip
    for key, extra, pin, code in cases:
        run_env = dict(env) if pin is None else {**env, "SF_CREDPROC_PKCS11_PIN": pin}
        run = run_cli(cert(key, *extra), run_env)
        if code == 0:
            assert run.code == 0, (key, extra, run.stderr)
        else:
            run.assert_failed(code, "the PIN was refused")


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("relative/pin", "not an absolute path"),
        ("https://example.invalid/pin", "not a file: URI or a path"),
        ("|/bin/cat", "not an absolute path"),
    ],
)
def test_pin_sources_that_are_not_files(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    source: str,
    needle: str,
) -> None:
    softhsm_env["SF_CREDPROC_PKCS11_MODULE"] = softhsm.module
    run = run_cli(cert(softhsm.uri(f"?pin-source={source}")), softhsm_env)
    run.assert_failed(2, needle, "pin-source=file:/ABSOLUTE/PATH")


def test_pin_files_read_safely(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    softhsm_env["SF_CREDPROC_PKCS11_MODULE"] = softhsm.module
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge"
    huge.write_bytes(b"1" * 5000)
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    for path, needle in (
        (fifo, "is a FIFO"),
        (huge, "larger than 1024 bytes"),
        (empty, "does not hold one line"),
        (tmp_path / "absent", "No such file"),
    ):
        for key, extra, origin in (
            (softhsm.uri(f"?pin-source=file:{path}"), (), "the URI's pin-source"),
            (softhsm.uri(), ("--pkcs11-pin-file", str(path)), "--pkcs11-pin-file"),
        ):
            run = run_cli(cert(key, *extra), softhsm_env)
            run.assert_failed(2, f"the PIN file {path} ({origin})", needle)


# -- pin-value, refused everywhere ---------------------------------------------------------------


def test_pin_value_is_refused_everywhere(
    softhsm: SoftHsm,  # noqa: F811
    softhsm_env: dict[str, str],  # noqa: F811
) -> None:
    pin = "pin-in-a-uri-8842"
    SECRETS.add(pin)
    key = softhsm.uri(f"?pin-value={pin}")
    hint = "Never put the PIN in the URI"
    run_cli(["cert", "--key", key], softhsm_env).assert_failed(2, hint)
    run_cli(["cert"], {**softhsm_env, "SF_CREDPROC_KEY": key}).assert_failed(2, hint)
    config = Path(softhsm_env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[profile.default]\nclient_id = "{CLIENT_ID}"\nusername = "{USERNAME}"\nkey = "{key}"\n'
    )
    run_cli(["cert"], softhsm_env).assert_failed(2, hint)
    # In the path part, and in upper case, too.
    upper = f"pkcs11:token=t;object=k;PIN-VALUE={pin}"
    run_cli(["cert", "--key", upper], softhsm_env).assert_failed(2, hint)


# -- the URI parser and the error translation (no token needed) ---------------------------------


def test_uri_attributes() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=My%20Token;manufacturer=ACME;serial=0042;model=M1;object=jwt;id=%01%A7;"
        "slot-id=3;type=private;x-vendor=1?module-path=/usr/lib/m.so&pin-source=file:/run/pin",
        "--key",
    )
    assert uri == Pkcs11Uri(
        token="My Token",
        manufacturer="ACME",
        serial="0042",
        model="M1",
        object_label="jwt",
        object_id=b"\x01\xa7",
        slot_id=3,
        module_path="/usr/lib/m.so",
        pin_source="file:/run/pin",
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("pkcs11:token=t", "names no object"),
        ("pkcs11:object=k;type=public", "signing needs the private key"),
        ("pkcs11:object=k;object=j", "repeats 'object'"),
        ("pkcs11:object=k;slot-id=x", "slot-id that is not a number"),
        ("pkcs11:object=k;colour=red", "unknown path attribute 'colour'"),
        ("pkcs11:object=k?pin-value=1234", "carries pin-value"),
    ],
)
def test_uris_refused(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as refused:
        parse_pkcs11_uri(text, "--key")
    assert "1234" not in str(refused.value)


def test_pkcs11_errors_map_to_exit_codes() -> None:
    import pkcs11

    cases = {
        pkcs11.PinIncorrect: (KeySourceError, "the PIN was refused"),
        pkcs11.PinLocked: (KeySourceError, "PIN is locked"),
        pkcs11.PinExpired: (KeySourceError, "expired"),
        pkcs11.TokenNotPresent: (KeySourceError, "not present"),
        pkcs11.DeviceError: (TransientError, "the device failed (DeviceError)"),
        pkcs11.DeviceRemoved: (TransientError, "the device failed (DeviceRemoved)"),
        pkcs11.SessionHandleInvalid: (TransientError, "the device failed"),
        pkcs11.KeyTypeInconsistent: (KeySourceError, "refused to sign"),
        pkcs11.FunctionRejected: (KeySourceError, "the token refused (FunctionRejected)"),
    }
    for error, (kind, needle) in cases.items():
        translated = translate_pkcs11_error(error(), "pkcs11:object=k")
        assert type(translated) is kind, error
        assert needle in translated.message and translated.hint
        assert translated.retryable == (kind is TransientError)
