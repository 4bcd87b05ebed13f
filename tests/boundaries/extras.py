"""Which third-party modules each service may import: the closure of its extra in pyproject.

Read from the installed distributions (`make setup` installs every extra), so the table is
exactly what a service's image gets from `pip install -c constraints.txt '.[<service>]'`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import tomllib
from functools import cache

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.boundaries.import_graph import ROOT

PROJECT = "picture-optimizer"
# Entry points, as each image runs them ("module:function" calls the function after the import:
# the CLI loads its sub-commands when it builds its parser).
SERVICES: dict[str, str] = {
    "gateway": "services.gateway.app",
    "auth": "services.auth.__main__",
    "billing": "services.billing.__main__",
    "processor": "services.processor.__main__",
    "vision": "services.vision.__main__",
    "retention": "services.retention.__main__",
    "cli": "picopt_cli:build_parser",
}


@cache
def pyproject() -> dict[str, list[str]]:
    """{extra: requirements} plus "" for the core dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def _closure(requirements: list[str], extra: str = "") -> set[str]:
    """Canonical names of every distribution these requirements install, transitively."""
    seen: set[str] = set()
    todo = [(Requirement(r), extra) for r in requirements]
    while todo:
        req, parent_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        if name == PROJECT:
            for wanted in req.extras:
                todo.extend((Requirement(r), "") for r in pyproject()[wanted])
            continue
        for wanted in req.extras:
            if f"{name}[{wanted}]" not in seen:
                seen.add(f"{name}[{wanted}]")
                todo.extend((Requirement(r), wanted) for r in metadata.requires(name) or ())
        if name in seen:
            continue
        seen.add(name)
        todo.extend((Requirement(r), "") for r in metadata.requires(name) or ())
    return {s for s in seen if "[" not in s}


@cache
def distributions(extra: str) -> frozenset[str]:
    """What installing `.[extra]` puts in the environment (the core included)."""
    return frozenset(_closure([*pyproject()[""], *pyproject()[extra]]))


@cache
def _modules_by_distribution() -> dict[str, set[str]]:
    by_dist: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(canonicalize_name(dist), set()).add(module)
    return by_dist


def modules(dists: frozenset[str]) -> set[str]:
    """Top-level import names the distributions provide."""
    table = _modules_by_distribution()
    return {m for d in dists for m in table.get(d, ()) if not m.startswith("_")}


def blocked(service: str) -> set[str]:
    """Modules some other service's extra installs and this one's does not."""
    everything = set().union(*(modules(distributions(s)) for s in SERVICES))
    return everything - modules(distributions(service))
