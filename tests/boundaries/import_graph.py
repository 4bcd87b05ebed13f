"""The project's import graph, read with `ast` from every .py file, and the edges it may have.

A component is `picopt` (the shared kernel and contracts), `picopt_cli` (the command line client),
one `services.<name>` per service, `tests` (system tests) or `bench`. A test module belongs to the
component it sits in: `services/billing/tests/` is billing. Inside a component anything goes, but
for two parts other code embeds on its own: the engine and the vision providers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("picopt", "picopt_cli", "services", "tests", "bench")
SKIP_DIRS = {".venv", "node_modules", "__pycache__", ".git", "var"}

# (importer prefix, imported prefix): every crossing between components must match one.
ALLOWED: tuple[tuple[str, str], ...] = (
    # Every service uses the shared kernel, the contracts and the light shared tables.
    ("services", "picopt"),
    # The CLI is a client: the public API through picopt.client, plus the engine and the
    # vision providers it embeds for offline work (the `cli` extra installs their libraries).
    ("picopt_cli", "picopt"),
    ("picopt_cli", "services.processor.engine"),
    ("picopt_cli", "services.vision.providers"),
    # ... and its tests reuse those parts' image helpers.
    ("picopt_cli.tests", "services.processor.engine.tests"),
    ("picopt_cli.tests", "services.vision.tests"),
    # System tests and benchmarks drive the whole product.
    ("tests", ""),
    ("bench", ""),
)
# Parts that must stand alone inside their own service (the CLI embeds them):
# (part, the rest of its service, modules of that rest the part may still use).
SELF_CONTAINED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("services.processor.engine", "services.processor", ()),
    # Providers compose alt text and captions with vision's composer and its phrase books
    # (no I/O, no models).
    (
        "services.vision.providers",
        "services.vision",
        ("services.vision.compose", "services.vision.phrases"),
    ),
)
_ENTRY_POINT = re.compile(r"^((?:picopt|picopt_cli|services)(?:\.\w+)+):\w+$")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} -> {self.imported}"


def component(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "services" and len(parts) > 1 else parts[0]


def _under(module: str, prefix: str) -> bool:
    return prefix == "" or module == prefix or module.startswith(prefix + ".")


def modules(root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every Python file of the project's packages."""
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            if SKIP_DIRS.isdisjoint(path.relative_to(root).parts):
                parts = path.relative_to(root).with_suffix("").parts
                yield ".".join(p for p in parts if p != "__init__"), path


def imports(module: str, path: Path, root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import, relative ones resolved, plus
    `importlib.import_module("...")` and "package.module:Name" plug-in strings."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from pkg import submodule`
                sub = root.joinpath(*target.split("."), alias.name)
                if sub.is_dir() or sub.with_suffix(".py").is_file():
                    yield f"{target}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _ENTRY_POINT.match(node.value)
            if match:
                yield match.group(1), node.lineno


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}
    )


def allowed(importer: str, imported: str) -> bool:
    if component(importer) == component(imported):
        return not any(
            _under(importer, part)
            and _under(imported, rest)
            and not any(_under(imported, ok) for ok in (part, *extra))
            for part, rest, extra in SELF_CONTAINED
        )
    return any(_under(importer, a) and _under(imported, b) for a, b in ALLOWED)


def crossings(root: Path = ROOT) -> list[Edge]:
    """Every import from one component into another (or out of a self-contained part)
    that the tables above do not allow."""
    found = []
    for module, path in modules(root):
        for imported, line in imports(module, path, root):
            if imported.split(".")[0] not in PACKAGES or imported == "services":
                continue  # a library, or the empty namespace package above the services
            if not allowed(module, imported):
                where = f"{path.relative_to(root)}:{line}"
                found.append(Edge(module, imported, where))
    return found
