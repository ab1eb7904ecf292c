"""The options of the long-running modes: ``serve``, ``exec --server`` and ``agent``.

These are the commands' own flags, not settings: no profile key, and they never decide which token
is obtained (the get options do). The endpoint's variables are named here once: the server's and
its clients' (``SF_CREDPROC_SERVER_URL``, ``SF_CREDPROC_SERVER_SOCKET``, ``SF_CREDPROC_SERVER_TOKEN``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .option import Kind, Option

#: The endpoint's ``Authorization`` value (the raw token, as the AWS container-credentials
#: contract's ``AWS_CONTAINER_AUTHORIZATION_TOKEN``). A capability handed to the endpoint's
#: clients: never logged, never on a command line, never in a file name.
SERVER_TOKEN_ENV = "SF_CREDPROC_SERVER_TOKEN"
SERVER_TOKEN_FILE_ENV = "SF_CREDPROC_SERVER_TOKEN_FILE"
#: Where a client finds the endpoint: the full ``/credential`` URL (loopback or https), or a
#: Unix socket's path.
SERVER_URL_ENV = "SF_CREDPROC_SERVER_URL"
SERVER_SOCKET_ENV = "SF_CREDPROC_SERVER_SOCKET"


def uses_endpoint(environ: Mapping[str, str]) -> bool:
    """True when the environment names a running endpoint for this process's clients (checked
    before ``server_client`` is imported: a cache hit without one never loads ``ssl``)."""
    return bool(environ.get(SERVER_URL_ENV) or environ.get(SERVER_SOCKET_ENV))


#: The endpoint's default address: loopback, a free port.
DEFAULT_LISTEN = "127.0.0.1:0"

LISTEN = Option(
    "listen",
    "--listen",
    "address to listen on (loopback only, unless --tls-cert and --tls-key are given)",
    "HOST:PORT",
    default=DEFAULT_LISTEN,
)
SOCKET = Option("socket", "--socket", "listen on this Unix socket instead of TCP", "PATH")
SERVER_TOKEN_FILE = Option(
    "server_token_file",
    "--server-token-file",
    "file holding the Authorization token clients must send [else $SF_CREDPROC_SERVER_TOKEN, else "
    "one is generated into $XDG_RUNTIME_DIR/sf-credproc/server-token]",
    "FILE",
    SERVER_TOKEN_FILE_ENV,
)
TLS_CERT = Option("tls_cert", "--tls-cert", "serve https with this certificate chain (PEM)", "PEM")
TLS_KEY = Option("tls_key", "--tls-key", "private key of --tls-cert (PEM)", "PEM")
NO_ACCESS_LOG = Option(
    "no_access_log",
    "--no-access-log",
    "write no access log line per request",
    kind=Kind.SWITCH,
)
#: ``exec --server``: the child gets an endpoint instead of a token.
SERVER = Option(
    "server",
    "--server",
    "give the command a local endpoint (SF_CREDPROC_SERVER_URL, SF_CREDPROC_SERVER_TOKEN) that "
    "keeps the token fresh for as long as it runs",
    kind=Kind.SWITCH,
)
SINK = Option(
    "sink",
    "--sink",
    "file to keep fresh: PATH[,format=json|token|env][,mode=0600] (repeatable)",
    "SPEC",
    kind=Kind.REPEATED,
)
ONCE = Option("once", "--once", "write the sinks once and exit (init containers)", kind=Kind.SWITCH)

#: The endpoint's own options (``serve``).
SERVE_OPTIONS = (LISTEN, SOCKET, SERVER_TOKEN_FILE, TLS_CERT, TLS_KEY, NO_ACCESS_LOG)
#: ``agent``'s own options.
AGENT_OPTIONS = (SINK, ONCE)
