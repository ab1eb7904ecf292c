"""Usage errors that say what was probably meant: a missing ``--`` after ``exec``, a misspelt flag.

argparse only says ``unrecognized arguments``; Python 3.10 to 3.13 have no suggestions of their own
(``suggest_on_error`` arrived in 3.14), so the close matches are computed here with ``difflib``
among the options of the very (sub)command that was run.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence

from ..errors import ConfigError

UNRECOGNIZED = "unrecognized arguments: "
EXEC_USAGE = "sf-credproc exec [options] -- COMMAND [ARGS...]"


def explain_usage_error(
    error: ConfigError, parser: argparse.ArgumentParser, argv: Sequence[str]
) -> ConfigError:
    """``error`` with a better hint when argparse could not place some arguments.

    ``argv`` is the whole command line, ``--`` and an ``exec`` command included.
    """
    if not error.message.startswith(UNRECOGNIZED):
        return error
    words = _command_words(argv)
    help_hint = f"Run 'sf-credproc {' '.join(words)} --help' for the options".replace("  ", " ")
    unknown = error.message[len(UNRECOGNIZED) :].split()
    if words[:1] == ["exec"] and "--" not in argv and any(w[:1] != "-" for w in unknown):
        # Without "--" the command and its arguments were read as options of exec itself.
        return ConfigError(
            f"exec: {error.message}",
            hint=f"Put -- between sf-credproc's options and the command: {EXEC_USAGE}",
        )
    options = _option_strings(parser, words)
    for word in unknown:
        if word.startswith("--"):
            # 0.8: one or two letters off (--sesion-ttl, --min-tll), not any word of similar length.
            close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.8)
            if close:
                return ConfigError(error.message, hint=f"Did you mean {close[0]}? {help_hint}")
    return ConfigError(error.message, hint=help_hint)


def _command_words(argv: Sequence[str]) -> list[str]:
    """The (sub)command named at the start of ``argv``: ``["get"]``, ``["cache", "list"]``."""
    words = []
    for word in argv[:2]:
        if word.startswith("-"):
            break
        words.append(word)
    return words


def _option_strings(parser: argparse.ArgumentParser, words: Sequence[str]) -> list[str]:
    """The long options of the subcommand ``words`` name (of ``parser`` itself when none)."""
    for action in parser._actions:
        choices = action.choices
        if isinstance(choices, dict) and words and words[0] in choices:
            return _option_strings(choices[words[0]], words[1:])
    return [
        name for action in parser._actions for name in action.option_strings if name[:2] == "--"
    ]
