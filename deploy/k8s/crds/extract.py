"""Keep the schemas of the custom resources the manifests use, from their operators' CRDs.

    .venv/bin/python deploy/k8s/crds/extract.py --origin "<repo> <tag> <commit>" CRD.yaml...

For every served version of every CustomResourceDefinition in the given files,
writes <group>_<kind>_<version>.json here (the openAPIV3Schema without its
descriptions, which are most of the bytes) and records where it came from in
SOURCES.yaml. tests/deploy validates every custom object of every overlay against
these files (unknown fields fail, as with kubectl's strict validation). Refresh
them from a newer release of an operator the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "SOURCES.yaml"


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def extract(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """File name -> schema for each served version of one CRD."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    return {
        f"{group}_{kind}_{version['name']}.json": without_descriptions(
            version["schema"]["openAPIV3Schema"]
        )
        for version in crd["spec"]["versions"]
        if version.get("served", True)
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origin", required=True, help='"<repository> <tag> <commit>"')
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    sources = yaml.safe_load(SOURCES.read_text()) if SOURCES.exists() else {}
    for path in args.files:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in extract(crd).items():
                (HERE / name).write_text(json.dumps(schema, sort_keys=True) + "\n")
                sources[name] = f"{args.origin} {path.name}"
    SOURCES.write_text(
        "# schema file: repository, release tag, commit, CRD file it was extracted from\n"
        + yaml.safe_dump(dict(sorted(sources.items())), width=200)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
