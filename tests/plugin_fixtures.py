"""Signer plugins for the tests: a private ``bin`` directory first on the ``PATH`` of ``env``
(``plugin_bin``), and the plugins installed there (the sample from ``examples/``, the behaviours of
``plugins/hostile_signer.py``)."""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SAMPLE = EXAMPLES / "sf-credproc-signer-openssl"
HOSTILE = Path(__file__).resolve().parent / "plugins" / "hostile_signer.py"
#: What ``hostile_signer.py`` writes on its stderr on every run.
STDERR_MARKER = "PLUGIN-STDERR-MARKER-7f3a"


@dataclass
class PluginBin:
    """A directory of plugins (mode 0755) first on ``env``'s ``PATH``, and the state the hostile
    plugin keeps (``HOSTILE_STATE``)."""

    directory: Path
    state: Path
    env: dict[str, str]

    def install(
        self, name: str, source: Path = HOSTILE, *, directory: Path | None = None, mode: int = 0o755
    ) -> Path:
        """``source`` as ``sf-credproc-signer-NAME``; the hostile plugin runs with this
        interpreter (it needs cryptography), the sample with the system's ``python3``."""
        text = source.read_text()
        if source == HOSTILE:
            text = f"#!{sys.executable}\n" + text.split("\n", 1)[1]
        path = (directory or self.directory) / f"sf-credproc-signer-{name}"
        path.write_text(text)
        path.chmod(mode)
        return path

    def requests(self) -> list[dict[str, Any]]:
        """The requests the hostile plugin got, oldest first (none if it never ran)."""
        log = self.state / "requests.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def ran(self) -> bool:
        return bool(self.requests())

    def read_json(self, name: str) -> Any:
        return json.loads((self.state / name).read_text())


def private_directory(path: Path) -> Path:
    """``path`` created with mode 0755, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return path


def plugin_bin(env: dict[str, str], tmp_path: Path, key_file: Path) -> PluginBin:
    """The ``plugins`` fixture of the plugin tests: ``env`` with a plugin directory first on its ``PATH``; the hostile plugin signs with the
    app's key (``key_file``), so its ``good`` mode logs in to the ``org``."""
    directory = private_directory(tmp_path / "bin")
    state = tmp_path / "plugin-state"
    state.mkdir()
    env["PATH"] = f"{directory}{os.pathsep}{env['PATH']}"
    env["HOSTILE_STATE"] = str(state)
    env["HOSTILE_KEY"] = str(key_file)
    return PluginBin(directory, state, env)
