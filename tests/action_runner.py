"""A small stand-in for a GitHub Actions runner: enough to run a job's steps and a composite action.

It does what the runner does for the parts our workflows use, as GitHub documents them:

- a ``run:`` step runs as ``bash --noprofile --norc -eo pipefail FILE`` (the ``bash`` shell), with
  the job's environment, the variables earlier steps appended to ``$GITHUB_ENV``, then the step's
  own ``env:``; ``$GITHUB_OUTPUT`` is a fresh file per step, read back as ``steps.ID.outputs``;
  ``::add-mask::VALUE`` lines on stdout register a mask
  (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions);
- a composite action (``runs.using: composite``) runs its steps the same way, with ``inputs`` (the
  caller's ``with:`` over each input's default) and ``github.action_path``; its outputs are its
  ``outputs.*.value`` expressions (https://docs.github.com/en/actions/sharing-automations/
  creating-actions/metadata-syntax-for-github-actions);
- expressions are only the ``${{ a.b.c }}`` property lookups our files use (``inputs``, ``github``,
  ``steps``, ``env``, ``vars``, ``secrets``); anything else fails the test rather than being guessed.

Other ``uses:`` are the caller's business (``uses_handlers``): the test stands in for them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: ``${{ expression }}``; GitHub also evaluates operators and functions, which our files do not use.
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PROPERTY_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*")
#: The ``bash`` shell of ``run:`` steps, as GitHub runs it on Linux and macOS.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def evaluate(text: str, context: Mapping[str, Any]) -> str:
    """``text`` with each ``${{ a.b }}`` replaced; a missing property is the empty string."""

    def lookup(match: re.Match[str]) -> str:
        path = match[1]
        assert PROPERTY_PATH.fullmatch(path), f"expression not supported here: {path!r}"
        value: Any = context
        for part in path.split("."):
            value = value.get(part, "") if isinstance(value, Mapping) else ""
        return str(value)

    return EXPRESSION.sub(lookup, text)


def read_file_commands(text: str) -> dict[str, str]:
    """``$GITHUB_ENV`` / ``$GITHUB_OUTPUT``: ``NAME=value`` lines and ``NAME<<DELIMITER`` blocks."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for body_line in lines:
                if body_line == delimiter:
                    break
                body.append(body_line)
            found[name] = "\n".join(body)
        elif line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


@dataclass
class StepRun:
    """What one ``run:`` step did."""

    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class Job:
    """One job on the stand-in runner: its environment, files, masks and the steps it ran."""

    env: dict[str, str]
    workdir: Path
    vars: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: ``uses:`` value prefix -> handler(job, step's ``with:`` evaluated, step's ``env:``) -> outputs.
    uses_handlers: dict[str, Callable[[Job, dict[str, str], dict[str, str]], dict[str, str]]] = (
        field(default_factory=dict)
    )
    masks: list[str] = field(default_factory=list)
    runs: list[StepRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.github_env = self.workdir / "github_env"
        self.github_env.touch()
        self.runner_temp = self.workdir / "runner_temp"
        self.runner_temp.mkdir()
        self.env.update(RUNNER_TEMP=str(self.runner_temp), GITHUB_ENV=str(self.github_env))

    def exported(self) -> dict[str, str]:
        """The variables earlier steps appended to ``$GITHUB_ENV``."""
        return read_file_commands(self.github_env.read_text())

    def context(self, steps: Mapping[str, Any], **more: Any) -> dict[str, Any]:
        return {
            "env": {**self.env, **self.exported()},
            "vars": self.vars,
            "secrets": self.secrets,
            "steps": steps,
            **more,
        }

    def run_script(self, name: str, script: str, step_env: Mapping[str, str]) -> StepRun:
        """A ``run:`` step with ``shell: bash``; fails the test if it fails."""
        number = len(self.runs)
        script_file = self.workdir / f"step-{number}.sh"
        script_file.write_text(script)
        output_file = self.workdir / f"step-{number}.output"
        output_file.touch()
        environment = {
            **self.env,
            **self.exported(),
            **step_env,
            "GITHUB_OUTPUT": str(output_file),
        }
        done = subprocess.run(
            [*BASH, str(script_file)],
            env=environment,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        self.masks.extend(
            line.removeprefix("::add-mask::")
            for line in done.stdout.splitlines()
            if line.startswith("::add-mask::")
        )
        step = StepRun(
            name,
            done.returncode,
            done.stdout,
            done.stderr,
            read_file_commands(output_file.read_text()),
        )
        self.runs.append(step)
        assert done.returncode == 0, f"step {name!r} failed ({done.returncode}): {done.stderr}"
        return step

    def run_action(
        self, action_dir: Path, with_: Mapping[str, str], step_env: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A composite action: its steps in order; returns its outputs."""
        metadata = yaml.safe_load((action_dir / "action.yml").read_text())
        assert metadata["runs"]["using"] == "composite"
        declared = metadata.get("inputs", {})
        unknown = set(with_) - set(declared)
        assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
        inputs = {
            name: str(with_.get(name, spec.get("default", ""))) for name, spec in declared.items()
        }
        github = {"action_path": str(action_dir)}
        steps: dict[str, Any] = {}
        for number, step in enumerate(metadata["runs"]["steps"]):
            assert set(step) <= {"name", "id", "shell", "env", "run"}, f"unsupported: {step}"
            assert step["shell"] == "bash"
            context = self.context(steps, inputs=inputs, github=github)
            env = {
                name: evaluate(str(value), context) for name, value in step.get("env", {}).items()
            }
            done = self.run_script(
                step.get("name", str(number)), step["run"], {**(step_env or {}), **env}
            )
            steps[step.get("id", f"step-{number}")] = {"outputs": done.outputs}
        context = self.context(steps, inputs=inputs, github=github)
        return {
            name: evaluate(spec["value"], context) for name, spec in metadata["outputs"].items()
        }

    def run_steps(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        """A job's steps: ``run:`` here, ``uses:`` through ``uses_handlers``; the steps context."""
        context_steps: dict[str, Any] = {}
        for number, step in enumerate(steps):
            assert "if" not in step, "conditions are not supported by this stand-in"
            context = self.context(context_steps)
            step_env = {
                name: evaluate(str(value), context) for name, value in step.get("env", {}).items()
            }
            if "run" in step:
                outputs = self.run_script(
                    step.get("name", str(number)), step["run"], step_env
                ).outputs
            else:
                uses = str(step["uses"])
                handlers = [
                    h for prefix, h in self.uses_handlers.items() if uses.startswith(prefix)
                ]
                assert handlers, f"no stand-in for uses: {uses}"
                with_ = {
                    name: evaluate(str(value), context)
                    for name, value in step.get("with", {}).items()
                }
                outputs = handlers[0](self, with_, step_env)
            if "id" in step:
                context_steps[step["id"]] = {"outputs": outputs}
        return context_steps

    def log(self) -> str:
        """Everything the steps printed, as the job's log would hold it (before masking)."""
        lines: list[str] = []
        for step in self.runs:
            lines.extend(
                line for line in step.stdout.splitlines() if not line.startswith("::add-mask::")
            )
            lines.extend(step.stderr.splitlines())
        return "\n".join(lines)
