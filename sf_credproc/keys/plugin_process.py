"""Running a signer plugin once: no shell, no secrets, bounded output, inside the deadline.

The plugin is started directly (``execve`` of its resolved path: no shell parses anything) with
the command's environment minus every variable the option spec marks secret
(``config.options.SECRET_ENVIRONMENT``: the key passphrase, the PKCS#11 PIN, the Vault token and
AppRole secret id), with no descriptor but its three standard streams, and in a session of its own,
so that on a timeout the whole process group is killed: a plugin that forked a helper (a ``sleep``,
an agent) cannot keep the pipes open, nor outlive the command.

Its stdin gets the request, its stdout is read up to ``MAX_ANSWER_BYTES`` (``communicate()`` would
buffer whatever a runaway plugin writes), and its stderr goes nowhere: it is never shown, not even
with ``-v``, since a plugin may print a token, a PIN or a key there while failing.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config.options import SECRET_ENVIRONMENT
from ..deadline import Deadline
from ..errors import ConfigError, KeySourceError, TransientError
from .plugin_protocol import MAX_ANSWER_BYTES

_CHUNK_BYTES = 16 * 1024


@dataclass(frozen=True)
class PluginExit:
    """How one run of a plugin ended: its exit status and what it wrote on stdout."""

    status: int
    output: bytes = field(repr=False)


def plugin_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the secrets sf-credproc reads: a plugin holds its own credentials."""
    secret = set(SECRET_ENVIRONMENT)
    return {name: value for name, value in environ.items() if name not in secret}


def run_plugin(
    path: str, request: bytes, *, label: str, environ: Mapping[str, str], deadline: Deadline
) -> PluginExit:
    """Run the plugin at ``path`` with ``request`` on stdin; raises ``TransientError`` (exit 5)
    when it has not answered and exited by the deadline, ``KeySourceError`` (exit 3) when it
    answers too much, ``ConfigError`` (exit 2) when it cannot be started."""
    deadline.check(f"running {label}")
    try:
        process = subprocess.Popen(
            [path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=plugin_environment(environ),
            close_fds=True,
            start_new_session=True,
            bufsize=0,
        )
    except OSError as error:  # ENOEXEC (no #! line), a #! interpreter that is missing...
        raise ConfigError(
            f"{label} cannot be run ({error.strerror})",
            hint="Check that the plugin is an executable program or has a working #! line",
        ) from None
    try:
        output = _exchange(process, request, label, deadline)
        try:
            status = process.wait(timeout=deadline.remaining())
        except subprocess.TimeoutExpired:  # it closed stdout but goes on running
            raise _too_slow(label, deadline) from None
        return PluginExit(status, output)
    finally:
        if process.returncode is None:
            _kill_group(process)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _exchange(
    process: subprocess.Popen[bytes], request: bytes, label: str, deadline: Deadline
) -> bytes:
    """Write ``request`` and read stdout to its end, both as the pipes allow, within the deadline:
    a plugin that answers before reading all of its input cannot deadlock us."""
    stdin, stdout = process.stdin, process.stdout
    if stdin is None or stdout is None:  # both are pipes: Popen(stdin=PIPE, stdout=PIPE)
        raise AssertionError("the plugin's pipes are missing")
    os.set_blocking(stdin.fileno(), False)
    pending = request
    output = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(stdin, selectors.EVENT_WRITE)
        selector.register(stdout, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline.remaining()
            if left <= 0:
                raise _too_slow(label, deadline)
            for ready, _ in selector.select(left):
                if ready.fileobj is stdin:
                    try:
                        pending = pending[os.write(stdin.fileno(), pending) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = b""  # it stopped reading: its answer (or exit) says why
                    if not pending:
                        selector.unregister(stdin)
                        stdin.close()
                    continue
                chunk = os.read(stdout.fileno(), _CHUNK_BYTES)
                if not chunk:
                    selector.unregister(stdout)
                    continue
                output += chunk
                if len(output) > MAX_ANSWER_BYTES:
                    raise KeySourceError(
                        f"{label} answered more than {MAX_ANSWER_BYTES // 1024} KiB",
                        hint="A protocol version 1 answer is one small JSON object; fix the plugin",
                    )
    return bytes(output)


def _too_slow(label: str, deadline: Deadline) -> TransientError:
    return TransientError(
        f"{label} did not answer within the {deadline.timeout_seconds:g} s deadline",
        hint="Check what the plugin waits for (its signing service, a PIN prompt), or raise "
        "--timeout",
        retryable=False,
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the plugin and everything it started in its session, and reap the plugin."""
    try:
        os.killpg(process.pid, signal.SIGKILL)  # start_new_session: its group id is its pid
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
