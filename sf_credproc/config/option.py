"""What one option is: the shape every entry of the option spec (``options.py``) has.

httpie's ``ParserSpec`` is the model: one description of each option, from which the argument
parser, the config file's key check, the ``--help`` text, the Python API's keyword arguments and the
README's settings table are all generated, so that a default or a range is written exactly once.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Kind(Enum):
    """How a value is read and checked (every setting's value is validated before any work)."""

    TEXT = "text"  #: a non-empty string
    WHOLE_SECONDS = "whole seconds"  #: an int within ``low``..``high``
    SECONDS = "seconds"  #: a number within ``low``..``high``
    CHOICE = "choice"  #: one of ``choices``
    HOST_LIST = "host list"  #: repeatable flag, comma-separated variable, TOML list
    SWITCH = "switch"  #: a flag without a value, off by default
    INTEGER = "integer"  #: a command's own number (argparse converts it)
    REPEATED = "repeated"  #: a command's own flag, given any number of times (a list)


class Option(NamedTuple):
    """One option of one or more commands.

    A *setting* has a profile key and is resolved flag > environment variable > config profile >
    default (``settings.py``); other options are plain flags of their command.
    """

    #: The ``Settings`` field, the profile key and the Python API's keyword argument.
    name: str
    #: The long flag (``None``: set only through the environment).
    flag: str | None
    #: One line for ``--help``.
    help: str
    metavar: str = "VALUE"
    env: str | None = None
    #: Variables read in this order when ``env`` is unset (``SSL_CERT_FILE`` after
    #: ``REQUESTS_CA_BUNDLE``).
    env_fallbacks: tuple[str, ...] = ()
    #: True when a ``[profile.NAME]`` table may hold it, under ``name``.
    in_profile: bool = False
    kind: Kind = Kind.TEXT
    #: The typed default (``None``: unset, or derived as ``default_text`` says).
    default: str | int | float | None = None
    #: The default in words, when it is derived rather than a value.
    default_text: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    #: ``get`` cannot run without it (the command may need fewer: ``resolve_settings(needs=)``).
    required: bool = False
    #: Part of the fast path's key: a different value (from the environment) may print another
    #: token, another format, or fail where a cache hit would have succeeded.
    decides_output: bool = False
    short: str | None = None
    #: The README's "meaning" column (markdown), when it says more than ``help``.
    doc: str | None = None
    #: The README's "default" column (markdown), when it says more than ``default_text``.
    readme_default: str | None = None
    #: A secret (a passphrase, a PIN, a Vault token or AppRole secret id): read from the
    #: environment only, never shown, never part of the fast path's key, and removed from the
    #: environment ``exec`` gives its command.
    secret: bool = False

    @property
    def repeatable(self) -> bool:
        return self.kind in (Kind.HOST_LIST, Kind.REPEATED)

    @property
    def shown_default(self) -> str | None:
        """The default as ``--help`` says it."""
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return None if self.default is None else str(self.default)

    @property
    def env_help(self) -> str:
        """``help`` with the variable and the default: ``... [env X; default: 7200]``."""
        default = self.shown_default
        default_part = f"; default: {default}" if default else ""
        if self.env is None:
            return f"{self.help} [{default}]" if default else self.help
        return f"{self.help} [env {self.env}{default_part}]"

    def python_label(self) -> str:
        """How an error names this option when its value came from Python: ``session_ttl=``."""
        return f"{self.name}="


def naming(label: str, shown: str) -> str:
    """A setting and its value as an error line says them: ``--session-ttl '0'`` for a flag (or
    a variable, or a profile key), ``session_ttl=0`` for a Python keyword argument."""
    return f"{label}{shown}" if label.endswith("=") else f"{label} {shown}"
