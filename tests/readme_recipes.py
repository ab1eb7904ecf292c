"""The README's recipes, found by the marker in front of each one.

A recipe is a fenced code block that a reader copies into a shell, a workflow or a program. The line
right before it names the recipe and the test that runs it as written:

    <!-- recipe: curl-token-header-env; tested by tests/test_consumers.py::test_curl_recipe -->

Tests read a recipe with ``recipe(NAME)`` and never copy its text, so the README cannot drift from
what runs. ``tests/test_readme.py`` checks the markers both ways: a marker whose test does not
exist (or does not read it), and a ``recipe(...)`` call naming a marker that is gone, both fail;
so does a block of the recipe sections with no marker (``tests/readme_check.py`` has the rules,
and the ``<!-- not a recipe: REASON -->`` escape for illustrations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: ``<!-- recipe: NAME; tested by tests/FILE.py::TEST -->``, then the fenced block on the next line.
MARKER = re.compile(
    r"^<!-- recipe: (?P<name>[a-z0-9][a-z0-9-]*); tested by "
    r"(?P<test_file>tests/[\w/]+\.py)::(?P<test>\w+) -->\n"
    r"```(?P<language>[\w-]*)\n(?P<text>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Recipe:
    """One marked block of the README."""

    name: str
    test_file: str
    test: str
    language: str
    text: str

    def lines(self) -> list[str]:
        """The block's non-empty lines that are not comments (``#``), as a reader runs them."""
        return [
            line
            for line in self.text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]


def recipes(readme: str | None = None) -> dict[str, Recipe]:
    """Every marked recipe of the README (or of ``readme``), by name."""
    text = README.read_text() if readme is None else readme
    found: dict[str, Recipe] = {}
    for match in MARKER.finditer(text):
        name = match["name"]
        assert name not in found, f"two README recipes are named {name!r}"
        found[name] = Recipe(
            name, match["test_file"], match["test"], match["language"], match["text"]
        )
    return found


def recipe(name: str) -> Recipe:
    """The README recipe marked ``name``; fails the calling test if there is none."""
    found = recipes()
    assert name in found, f"the README has no recipe marked {name!r}"
    return found[name]
