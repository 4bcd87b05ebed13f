"""Validate custom resources against their operators' schemas (deploy/k8s/crds).

The API server applies a CRD's openAPIV3Schema with kubectl's strict field
validation: a field the schema does not know is an error, so a typo such as
`minReplicas` on a ScaledObject fails here rather than being dropped silently in
the cluster. Kubernetes' schema dialect is turned into JSON Schema first:
`nullable` admits null, objects that list their properties admit no others
(unless `x-kubernetes-preserve-unknown-fields` or `additionalProperties` say so).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

CRDS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "crds"


class SchemaNotFound(LookupError):
    """No schema is kept for this apiVersion and kind."""


def strict(node: Any) -> Any:
    """A Kubernetes structural schema as strict JSON Schema."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    group, _, version = api_version.rpartition("/")
    path = CRDS / f"{group}_{kind}_{version}.json"
    if not path.exists():
        raise SchemaNotFound(f"{api_version} {kind}: no schema in {CRDS}")
    schema = strict(json.loads(path.read_text()))
    # The API server owns metadata beyond what the CRD says; our objects use the common part.
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def errors(obj: dict[str, Any]) -> list[str]:
    """Every violation of the object's schema, each with the path where it is."""
    found = validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found)


def known() -> set[tuple[str, str]]:
    """(apiVersion, kind) of every kept schema."""
    kinds = set()
    for path in CRDS.glob("*.json"):
        group, kind, version = path.stem.split("_")
        kinds.add((f"{group}/{version}", kind))
    return kinds
