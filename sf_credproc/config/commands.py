"""Which options each command takes: the settings of ``options.py`` and each command's own flags.

``cli/parser.py`` builds argparse from this; every command takes ``--log-format``, so its failure
line (and every other line it writes on stderr) can be JSON.
"""

from __future__ import annotations

from .exec_options import CUMULUSCI_ORG
from .option import Kind, Option
from .options import (
    GET_OPTIONS,
    KEY_SOURCE_SETTINGS,
    NO_CACHE,
    OPTIONS_BY_NAME,
    PROFILE,
    REFRESH,
    REJECTED_SHA256,
    VERBOSE,
)
from .serve_options import AGENT_OPTIONS, SERVE_OPTIONS, SERVER

#: The settings, then ``--profile`` and ``-v``: what every command that resolves settings takes.
_ALL_SETTINGS = (*GET_OPTIONS, PROFILE, VERBOSE)
_LOG_FORMAT = OPTIONS_BY_NAME["log_format"]
_JSON_REPORT = Option("json", "--json", "the report as JSON", kind=Kind.SWITCH)
#: The emulator over https with a throwaway CA (``emulator/throwaway_tls.py``), for demo and emulator.
_HTTPS = Option(
    "https",
    "--https",
    "serve https with a certificate from a throwaway CA, whose path is printed",
    kind=Kind.SWITCH,
)


def _settings(*names: str) -> tuple[Option, ...]:
    return tuple(OPTIONS_BY_NAME[name] for name in names)


#: The options of each command, in ``--help`` order (``"cache list"``: a command and its action).
COMMAND_OPTIONS: dict[str, tuple[Option, ...]] = {
    "get": (*_ALL_SETTINGS, REFRESH, NO_CACHE, REJECTED_SHA256),
    "exec": (*_ALL_SETTINGS, REFRESH, NO_CACHE, SERVER, CUMULUSCI_ORG),
    "serve": (*_ALL_SETTINGS, NO_CACHE, *SERVE_OPTIONS),
    "agent": (*_ALL_SETTINGS, NO_CACHE, *AGENT_OPTIONS),
    "logout": _ALL_SETTINGS,
    "cert": (
        *_settings(*KEY_SOURCE_SETTINGS, "timeout", "log_format"),
        PROFILE,
        VERBOSE,
        Option("subject", "--subject", 'distinguished name [default: "CN=sf-credproc"]', "DN"),
        Option("days", "--days", "validity in days", "N", kind=Kind.INTEGER, default=730),
        Option("out", "--out", "write the PEM here instead of stdout", "FILE"),
        Option("csr", "--csr", "make a certificate signing request instead", kind=Kind.SWITCH),
    ),
    "doctor": (
        *_ALL_SETTINGS,
        Option(
            "cert",
            "--cert",
            "the certificate uploaded to the connected app or External Client App",
            "FILE",
        ),
        _JSON_REPORT,
    ),
    # The state column applies get's refresh windows and cool-down: the same settings as get.
    "cache list": (
        *_settings(
            "cache_dir",
            "min_ttl",
            "mandatory_ttl",
            "session_ttl",
            "rate_limit_cooldown",
            "log_format",
        ),
        PROFILE,
        Option("json", "--json", "one JSON object per line", kind=Kind.SWITCH),
    ),
    "cache clear": (
        *_ALL_SETTINGS,
        Option("all", "--all", "delete every entry in the cache directory", kind=Kind.SWITCH),
    ),
    "demo": (_LOG_FORMAT, _HTTPS),
    "emulator": (
        _LOG_FORMAT,
        Option("host", "--host", "address to listen on", "HOST", default="127.0.0.1"),
        Option(
            "port",
            "--port",
            "port",
            "PORT",
            kind=Kind.INTEGER,
            default=0,
            default_text="a free one",
        ),
        Option(
            "client_id",
            "--client-id",
            "consumer key to accept",
            "KEY",
            default="sf-credproc-emulator-app",
        ),
        Option(
            "username",
            "--username",
            "user to accept",
            "USER",
            default="integration@emulator.example",
        ),
        Option("cert", "--cert", "the connected app's certificate [a new key]", "PEM"),
        Option("tls_cert", "--tls-cert", "serve https with this certificate chain", "PEM"),
        Option("tls_key", "--tls-key", "private key of --tls-cert", "PEM"),
        _HTTPS,
    ),
}
