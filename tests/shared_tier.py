"""Helpers for the shared tier's tests: machines that share one table (``shared`` in conftest)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from conftest import SHARED_TABLE as TABLE
from conftest import Aws


def machine(env: dict[str, str], tmp_path: Path, number: int) -> dict[str, str]:
    """Another machine: the same settings, its own (empty) local cache."""
    return {**env, "XDG_CACHE_HOME": str(tmp_path / f"machine-{number}")}


def local_entries(env: dict[str, str]) -> list[str]:
    """The local cache entries of the machine ``env`` describes."""
    return glob.glob(os.path.join(env["XDG_CACHE_HOME"], "**", "*.cred"), recursive=True)


def items(aws: Aws) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.client("dynamodb").scan(TableName=TABLE)["Items"]
    return found
