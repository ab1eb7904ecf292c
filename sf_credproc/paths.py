"""Where sf-credproc keeps its files (XDG Base Directory Specification).

Deliberately import-free beyond ``os``: the cache-hit fast path uses these functions too.
"""

# No ``from __future__ import annotations`` here (a cache hit would pay for importing it): names
# imported only for type checkers are quoted.
import os

# Typing-only imports: collections.abc and typing cost milliseconds on the cache-hit path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

CONFIG_ENV = "SF_CREDPROC_CONFIG"
CACHE_DIR_ENV = "SF_CREDPROC_CACHE_DIR"


def _home(environ: "Mapping[str, str]") -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def config_path(environ: "Mapping[str, str]") -> tuple[str, bool]:
    """The config file's path, and whether the user named it explicitly (``SF_CREDPROC_CONFIG``)."""
    explicit = environ.get(CONFIG_ENV)
    if explicit:
        return os.path.expanduser(explicit), True
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(_home(environ), ".config")
    return os.path.join(base, "sf-credproc", "config.toml"), False


def default_cache_dir(environ: "Mapping[str, str]") -> str:
    """``$SF_CREDPROC_CACHE_DIR``, else ``$XDG_CACHE_HOME/sf-credproc``, else ``~/.cache/sf-credproc``."""
    explicit = environ.get(CACHE_DIR_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(_home(environ), ".cache")
    return os.path.join(base, "sf-credproc")
