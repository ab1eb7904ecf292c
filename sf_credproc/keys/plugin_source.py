"""``NAME:REST``: a key held by a signer plugin, the executable ``sf-credproc-signer-NAME``.

Any scheme that is not built in (``config.key_uri``; built-in schemes always win) names a plugin,
so that a vendor or a team adds a signer without changing sf-credproc. The plugin is found once per command (``plugin_finder.py``: absolute ``PATH``
entries only, refused when others could have replaced it) and run once per signature
(``plugin_process.py``), speaking protocol version 1 (``plugin_protocol.py``, the README's "Signer
plugins"). Like a KMS key, the key is a ``RemoteRsaPrivateKey``: assertions, ``cert`` and
``doctor`` sign through it unchanged, and ``get`` asks only for signatures (``public-key`` serves
``cert`` and ``doctor``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import log
from ..clock import SystemClock
from ..deadline import Deadline
from .plugin_finder import find_plugin, plugin_executable
from .plugin_process import run_plugin
from .plugin_protocol import public_key_request, read_public_key, read_signature, sign_request
from .remote_key import RemoteRsaPrivateKey

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric import rsa

    from ..config.key_uri import KeyUri
    from .source import KeySourceContext

#: The deadline of a plugin run when the caller gave none (a library caller's own key source).
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class PluginKeySource:
    """The plugin that holds the key, found when the command starts."""

    uri: KeyUri
    path: str
    environ: Mapping[str, str] = field(repr=False)
    deadline: Deadline

    @classmethod
    def from_uri(cls, uri: KeyUri, context: KeySourceContext) -> PluginKeySource:
        """Find the plugin for ``uri.scheme`` (``ConfigError``, exit 2, when there is none or it
        is unsafe to run); nothing is run yet."""
        deadline = context.deadline or Deadline(
            DEFAULT_TIMEOUT_SECONDS, context.clock or SystemClock()
        )
        path = find_plugin(uri.scheme, context.environ)
        return cls(uri, path, context.environ, deadline)

    def load_key(self) -> PluginRsaPrivateKey:
        """The key: no call yet (``get`` makes one, to sign)."""
        return PluginRsaPrivateKey(self.uri, self.path, self.environ, self.deadline)


class PluginRsaPrivateKey(RemoteRsaPrivateKey):
    """An ``RSAPrivateKey`` whose ``sign()`` runs the plugin."""

    def __init__(
        self, uri: KeyUri, path: str, environ: Mapping[str, str], deadline: Deadline
    ) -> None:
        # str(uri) for messages (it hides a target that looks like key material); the plugin
        # gets the whole URI as written.
        super().__init__(str(uri), f"the signer plugin {plugin_executable(uri.scheme)}")
        self._uri = f"{uri.scheme}:{uri.target}"
        self._path = path
        self._environ = environ
        self._deadline = deadline
        self._label = f"the signer plugin {path} ({self.name})"
        #: The fix for a key that is not RSA of 2048 bits or more, naming the plugin.
        self.key_hint = (
            f"Have {plugin_executable(uri.scheme)} sign with an RSA key of 2048, 3072 or 4096 bits"
        )

    def __repr__(self) -> str:
        return f"PluginRsaPrivateKey({self.name!r}, path={self._path!r})"

    def describe(self) -> str:
        return f"signed by the plugin {self._path}"

    def _run(self, operation: str, request: bytes) -> tuple[int, bytes]:
        started = self._deadline.now()
        done = run_plugin(
            self._path,
            request,
            label=self._label,
            environ=self._environ,
            deadline=self._deadline,
        )
        # What ran and how it ended; never the message, the signature or the plugin's stderr.
        log.info(
            "key",
            f"{self._label}: {operation} exited with status {done.status} after "
            f"{self._deadline.now() - started:.3f} s",
            plugin=self._path,
            operation=operation,
            status=done.status,
        )
        return done.status, done.output

    def _sign_rs256(self, data: bytes) -> bytes:
        status, output = self._run("sign", sign_request(self._uri, data))
        return read_signature(self._label, status, output)

    def _fetch_public_key(self) -> rsa.RSAPublicKey:
        status, output = self._run("public-key", public_key_request(self._uri))
        return read_public_key(self._label, status, output, self.key_hint)
