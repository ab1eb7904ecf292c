"""The README's settings table, rendered from the option spec (a test keeps the README equal to it).

``python -m sf_credproc.config.settings_table`` prints it, to paste into README.md after a change.
"""

from __future__ import annotations

from .option import Kind, Option
from .options import (
    ENVIRONMENT_ONLY,
    GET_OPTIONS,
    NO_CACHE,
    PROFILE,
    REFRESH,
    REJECTED_SHA256,
    VERBOSE,
)

HEADER = (
    "| flag | environment variable | profile key | default | meaning |\n|---|---|---|---|---|\n"
)
#: In the README's order: ``get``'s settings, its switches, then what only the environment sets.
TABLE_OPTIONS: tuple[Option, ...] = (
    *GET_OPTIONS,
    REFRESH,
    NO_CACHE,
    REJECTED_SHA256,
    PROFILE,
    VERBOSE,
    *ENVIRONMENT_ONLY,
)


def render_settings_table() -> str:
    """The markdown table, one row per option, ending with a newline."""
    return HEADER + "".join(_row(option) + "\n" for option in TABLE_OPTIONS)


def _row(option: Option) -> str:
    cells = (_flag(option), _env(option), _profile_key(option), _default(option), _meaning(option))
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _flag(option: Option) -> str:
    names = ", ".join(f"`{name}`" for name in (option.short, option.flag) if name)
    return f"{names} (repeatable)" if names and option.repeatable else names


def _env(option: Option) -> str:
    if option.env is None:
        return ""
    names = ", then ".join(f"`{name}`" for name in (option.env, *option.env_fallbacks))
    return f"{names} (comma-separated)" if option.repeatable else names


def _profile_key(option: Option) -> str:
    if not option.in_profile:
        return ""
    return f"`{option.name}` (list)" if option.repeatable else f"`{option.name}`"


def _default(option: Option) -> str:
    if option.readme_default is not None:
        return option.readme_default
    if option.required:
        return "required"
    if option.kind is Kind.SWITCH:
        return "off"
    if option.default is not None:
        return f"`{option.shown_default}`"
    return option.default_text or "none"


def _meaning(option: Option) -> str:
    return option.doc or option.help


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    print(render_settings_table(), end="")
