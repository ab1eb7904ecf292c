"""The check that every README recipe is marked and run, and that every marker is true.

What counts as a recipe block: every fenced code block in the README from the heading
``## Consumers: formats and `exec``` up to the first ``## `` heading after ``## Python API`` (the
sections where a reader copies a block to consume a credential). Each such block must have, on the
line right before its opening fence, either a recipe marker (``readme_recipes.MARKER``) or

    <!-- not a recipe: REASON -->

for an illustration (a synopsis with placeholders, a diagram). Blocks elsewhere in the README may
be marked too, and are then checked the same way. Both headings must exist, so that renaming one
cannot switch the check off.

A marker is true when its test file exists, defines the test function at module level (``test_*``),
and that test reads the recipe: it calls ``recipe("NAME")`` with the name as a literal, directly or
through a function or fixture defined in the same test module (a helper it calls, or a fixture it
takes as a parameter, followed transitively; fixtures from ``conftest.py`` or other modules are not
followed). And every ``recipe(...)`` call under ``tests/`` must name a marker that exists, with a
literal name, so that the check can follow it.

``problems(readme, tests_dir)`` returns one line per failure; the unit tests in
``tests/test_readme.py`` feed it small synthetic READMEs and test directories.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from readme_recipes import MARKER

#: The first heading of the recipe sections, and the last section's heading.
FIRST_SECTION = "## Consumers: formats and `exec`"
LAST_SECTION = "## Python API"

FENCE = re.compile(r"^\s*```")
RECIPE_COMMENT = re.compile(r"^\s*<!--\s*recipe\b")
NOT_A_RECIPE_COMMENT = re.compile(r"^\s*<!--\s*not a recipe\b")
NOT_A_RECIPE = re.compile(r"^<!-- not a recipe: \S.*? -->$")


@dataclass(frozen=True)
class Block:
    """An opening fence: its line number (1-based) and the line before it."""

    line: int
    before: str


def opening_fences(readme: str) -> Iterator[Block]:
    """Every fenced block's opening line, with the line before it."""
    lines = readme.splitlines()
    inside = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            if not inside:
                yield Block(index + 1, lines[index - 1] if index else "")
            inside = not inside


def recipe_section_lines(readme: str) -> tuple[int, int] | None:
    """The 1-based line range of the recipe sections, or ``None`` when a heading is gone."""
    lines = readme.splitlines()
    try:
        first = lines.index(FIRST_SECTION)
        last = lines.index(LAST_SECTION, first)
    except ValueError:
        return None
    end = next((i for i in range(last + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return first + 1, end


def marker_problems(readme: str) -> list[str]:
    """Malformed markers, markers without a block, duplicate names, unmarked recipe blocks."""
    found: list[str] = []
    lines = readme.splitlines()
    marked = {match.start() for match in MARKER.finditer(readme)}
    offset = 0
    names: list[str] = []
    for number, line in enumerate(lines, 1):
        following = lines[number] if number < len(lines) else ""
        if RECIPE_COMMENT.match(line):
            if offset not in marked:
                if FENCE.match(following) is None:
                    found.append(f"README line {number}: a recipe marker not followed by a block")
                else:
                    found.append(f"README line {number}: a malformed recipe marker: {line!r}")
        elif NOT_A_RECIPE_COMMENT.match(line):
            if not NOT_A_RECIPE.match(line):
                found.append(f"README line {number}: a malformed not-a-recipe comment: {line!r}")
            elif FENCE.match(following) is None:
                found.append(f"README line {number}: a not-a-recipe comment not before a block")
        offset += len(line) + 1
    for match in MARKER.finditer(readme):
        if match["name"] in names:
            found.append(f"README: two recipes are named {match['name']!r}")
        names.append(match["name"])
    section = recipe_section_lines(readme)
    if section is None:
        found.append(f"README: the headings {FIRST_SECTION!r} and {LAST_SECTION!r} must both exist")
        return found
    first, end = section
    for block in opening_fences(readme):
        if first <= block.line <= end and not (
            RECIPE_COMMENT.match(block.before) or NOT_A_RECIPE_COMMENT.match(block.before)
        ):
            found.append(
                f"README line {block.line}: a block without a recipe marker "
                "(or <!-- not a recipe: REASON --> for an illustration)"
            )
    return found


def is_recipe_call(node: ast.AST) -> bool:
    """``recipe(...)`` or ``readme_recipes.recipe(...)``."""
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    return (isinstance(function, ast.Name) and function.id == "recipe") or (
        isinstance(function, ast.Attribute) and function.attr == "recipe"
    )


def literal_name(call: ast.Call) -> str | None:
    if len(call.args) == 1 and not call.keywords:
        argument = call.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
    return None


@dataclass
class Function:
    """What one module-level function reads and reaches."""

    reads: set[str] = field(default_factory=set)
    reaches: set[str] = field(default_factory=set)


def fixture_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The name pytest knows a function by: ``@pytest.fixture(name="x")`` renames it."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return node.name


def module_functions(tree: ast.Module) -> dict[str, Function]:
    """Each module-level function (by its pytest name too): the recipes it reads, the names it
    calls or takes as parameters."""
    functions: dict[str, Function] = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        function = Function()
        arguments = node.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            function.reaches.add(argument.arg)
        for inner in ast.walk(node):
            if is_recipe_call(inner):
                assert isinstance(inner, ast.Call)
                name = literal_name(inner)
                if name is not None:
                    function.reads.add(name)
            elif isinstance(inner, ast.Name):
                function.reaches.add(inner.id)
        functions[node.name] = function
        functions.setdefault(fixture_name(node), function)
    return functions


def reads(functions: dict[str, Function], start: str) -> set[str]:
    """The recipes ``start`` reads, itself or through the module's functions it reaches."""
    seen: set[str] = set()
    pending = [start]
    names: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen or current not in functions:
            continue
        seen.add(current)
        names |= functions[current].reads
        pending.extend(functions[current].reaches)
    return names


def recipe_calls(tests_dir: Path) -> Iterator[tuple[str, int, str | None]]:
    """Every ``recipe(...)`` call under ``tests_dir``: file, line, the literal name (or None)."""
    for path in sorted(tests_dir.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if is_recipe_call(node):
                assert isinstance(node, ast.Call)
                yield str(path.relative_to(tests_dir.parent)), node.lineno, literal_name(node)


def named_test_problems(readme: str, tests_dir: Path) -> list[str]:
    """Markers naming a test that is missing or does not read the recipe; ``recipe()`` calls
    naming a marker that is gone, or not a literal."""
    found: list[str] = []
    markers = {match["name"]: match for match in MARKER.finditer(readme)}
    parsed: dict[str, dict[str, Function] | None] = {}
    for name, match in markers.items():
        test_file = match["test_file"]
        if test_file not in parsed:
            path = tests_dir.parent / test_file
            parsed[test_file] = (
                module_functions(ast.parse(path.read_text())) if path.is_file() else None
            )
        functions = parsed[test_file]
        where = f"recipe {name!r}: {test_file}::{match['test']}"
        if functions is None:
            found.append(f"{where}: no such test file")
        elif not match["test"].startswith("test") or match["test"] not in functions:
            found.append(f"{where}: no such test function at module level")
        elif name not in reads(functions, match["test"]):
            found.append(f'{where}: the test does not call recipe("{name}")')
    for file, line, called in recipe_calls(tests_dir):
        if called is None:
            found.append(f"{file}:{line}: recipe() needs the name as a string literal")
        elif called not in markers:
            found.append(f"{file}:{line}: recipe({called!r}) names no README marker")
    return found


def problems(readme: str, tests_dir: Path) -> list[str]:
    """Everything wrong with the README's recipe markers and the tests they name."""
    return marker_problems(readme) + named_test_problems(readme, tests_dir)
