"""No service imports another, `picopt` imports no service, the CLI only what it embeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.boundaries.import_graph import ROOT, allowed, crossings, modules


def test_the_project_has_no_import_crossing_outside_the_allowed_table() -> None:
    found = crossings()
    assert not found, "imports across boundaries:\n" + "\n".join(map(str, found))


def test_the_walk_sees_every_package_including_tests() -> None:
    names = {name for name, _ in modules()}
    assert {"picopt.formats", "picopt_cli", "services.gateway.app"} <= names
    assert any(n.startswith("services.gateway.tests.") for n in names)
    assert len(names) > 300


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("services.gateway.routes_jobs", "picopt.formats", True),
        ("services.gateway.routes_jobs", "services.processor.engine.detect", False),
        ("services.gateway.tests.test_x", "services.retention.policy", False),
        ("services.auth.preferences", "services.vision.providers", False),
        ("picopt.kernel.db", "services.auth.models", False),
        ("picopt_cli.optimize", "services.processor.engine", True),
        ("picopt_cli.optimize", "services.processor.worker", False),
        ("picopt_cli.analyze", "services.vision.grpc_api", False),
        ("services.processor.engine.decode", "services.processor.models", False),
        ("services.processor.worker", "services.processor.engine", True),
        ("services.vision.providers.local", "services.vision.analysis", False),
        ("tests.integration.test_flow", "services.billing.tests.fake_stripe", True),
    ],
)
def test_the_rules(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok


def test_every_kind_of_import_is_seen(tmp_path: Path) -> None:
    """A crossing written as import, from-import, relative import, import_module or a plug-in
    string is reported with its file and line."""
    services = tmp_path / "services"
    gateway = services / "gateway"
    for d in (services, gateway, services / "retention", services / "processor" / "engine"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "__init__.py").write_text("")
    (gateway / "bad.py").write_text(
        "import importlib\n"
        "import services.vision.analysis\n"
        "from services.processor import engine\n"
        "from .. import retention\n"
        "importlib.import_module('services.billing.ledger')\n"
        "PLUGIN = 'services.auth.service:AuthService'\n"
        "from picopt import formats\n"
        "from . import problems\n"
    )
    found = {(e.imported, e.where) for e in crossings(tmp_path)}
    assert found == {
        ("services.vision.analysis", "services/gateway/bad.py:2"),
        ("services.processor", "services/gateway/bad.py:3"),
        ("services.processor.engine", "services/gateway/bad.py:3"),
        ("services.retention", "services/gateway/bad.py:4"),
        ("services.billing.ledger", "services/gateway/bad.py:5"),
        ("services.auth.service", "services/gateway/bad.py:6"),
    }


def test_root_is_the_repository() -> None:
    assert (ROOT / "pyproject.toml").is_file()
