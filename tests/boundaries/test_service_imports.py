"""Each service's entry point imports only what its own extra installs.

The entry point is imported in a fresh interpreter whose import system refuses every module
that another service's extra installs and this one's does not (an image built from
`.[<service>]` would not have it), so a new heavy import fails here before it fails in a pod.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.boundaries.extras import SERVICES, blocked, distributions
from tests.boundaries.import_graph import ROOT

_CLI = SERVICES["cli"]

PROBE = """
import importlib.abc, json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not in this service's extra", name=name)
        return None
sys.meta_path.insert(0, Refuse())
import importlib
module, _, function = sys.argv[2].partition(":")
loaded = importlib.import_module(module)
if function:
    getattr(loaded, function)()
"""


def _import(entry: str, refused: set[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(sorted(refused)), entry],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_entry_point_imports_without_other_services_libraries(service: str) -> None:
    result = _import(SERVICES[service], blocked(service))
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_heavy_libraries_are_where_they_belong() -> None:
    """The extras say what the issue wants: no image or model library outside the engine,
    the vision service and the CLI."""
    heavy = {"opencv-python-headless", "pyvips", "numpy", "onnxruntime", "pillow", "rapidocr"}
    for service in ("gateway", "auth", "billing", "retention"):
        assert not heavy & distributions(service), service
    assert {"pyvips", "pillow", "numpy"} <= distributions("processor")
    assert {"onnxruntime", "rapidocr"} <= distributions("vision")
    assert not {"pyvips", "stripe", "flask"} & distributions("vision")


def test_the_billing_image_runs_its_staff_command_without_the_cli_extra() -> None:
    """`picopt billing` runs in billing pods (deploy/callgraph.yaml): the command line builds
    with billing's libraries only and leaves out the commands that need the `cli` extra."""
    result = _import("picopt_cli:build_parser", blocked("billing"))
    assert result.returncode == 0, result.stderr[-3000:]
    parse = PROBE.replace(
        "getattr(loaded, function)()",
        "print(getattr(loaded, function)().parse_args(['billing', 'balance', 'u-1']).command)",
    )
    listed = subprocess.run(
        [sys.executable, "-c", parse, json.dumps(sorted(blocked("billing"))), _CLI],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.stdout.strip() == "billing", listed.stderr[-3000:]


def test_a_forbidden_import_is_caught() -> None:
    """The probe itself: a service importing a library outside its extra fails."""
    result = _import("services.gateway.app", {"flask"})
    assert result.returncode != 0 and "not in this service's extra" in result.stderr
