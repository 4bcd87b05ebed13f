"""Requests that put one awkward text into one text slot of one documented operation.

Read from the OpenAPI document, so a new route or field is covered without a test change:
every path parameter, query parameter, JSON body field, form field and upload file name gets
NUL, one character over its `maxLength`, a lone surrogate where JSON can spell one, and (for
the real stack) text at its full length that every layer must carry: control characters,
right-to-left marks, combining marks, emoji. Every other field holds a valid value, so the
slot under test is what the answer is about. Used by the gateway's unit tests (fake
backends) and by the integration tests (the real stack).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

NUL = "ab\x00cd"
SURROGATE = "ab\udaa5cd"
# Valid Unicode no backend may choke on: C0 controls but NUL, RLO, combining, astral emoji.
AWKWARD = "\x01\x1b\u202e\u0301\U0001f600\ufeffé"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@dataclass(frozen=True)
class Case:
    """One request: `slot` (path, query, body, form, filename) `field` holds `kind` text."""

    method: str
    path: str
    slot: str
    field: str
    kind: str
    query: dict[str, str] = dataclasses.field(default_factory=dict)
    body: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    filename: str | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path.split('?')[0][:80]} {self.slot}:{self.field} {self.kind}"

    def json_bytes(self) -> bytes | None:
        """The body as JSON text, lone surrogates as `\\uXXXX` escapes (as a client sends)."""
        return None if self.body is None else json.dumps(self.body).encode()

    def files(self) -> list[tuple[str, tuple[str, io.BytesIO, str]]]:
        if self.form is None:
            return []
        name = "photo.png" if self.filename is None else self.filename
        return [("file", (name, io.BytesIO(PNG), "image/png"))]

    @property
    def expects_field_named(self) -> bool:
        """Refused at the door with the field named (awkward text is valid by design)."""
        return self.kind != "awkward"


def cases(doc: dict[str, Any], awkward: bool = False) -> Iterator[Case]:
    """Every text slot of every operation with each hostile kind (and awkward text too)."""
    schemas = doc["components"]["schemas"]
    # Only JSON can spell a lone surrogate: in a URL or a form, its UTF-8-like bytes are
    # invalid UTF-8 and arrive as U+FFFD.
    kinds = ["nul", "long", *(["awkward"] if awkward else [])]
    body_kinds = [*kinds, "surrogate"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if path.endswith("/stripe/webhook"):
                continue  # a raw body signed by Stripe, checked by billing, not text fields
            params = op.get("parameters", [])
            path_values = {p["name"]: "x" for p in params if p["in"] == "path"}
            query = {p["name"]: _valid(p["schema"]) for p in params if p["in"] == "query"}
            query = {k: str(v).lower() for k, v in query.items() if v not in (None, "")}
            content = op.get("requestBody", {}).get("content", {})
            body_schema = _resolve(content.get("application/json", {}).get("schema"), schemas)
            form_schema = content.get("multipart/form-data", {}).get("schema")
            body = _valid_object(body_schema, schemas) if body_schema else None
            form: dict[str, str] | None = {} if form_schema else None

            def case(slot: str, name: str, kind: str, **changed: Any) -> Case:
                values = {**path_values, **changed.pop("path_values", {})}
                filled = path
                for key, value in values.items():
                    filled = filled.replace(f"{{{key}}}", _path_segment(value))
                defaults: dict[str, Any] = {"query": query, "body": body, "form": form}
                return Case(method.upper(), filled, slot, name, kind, **{**defaults, **changed})

            for p in params:
                schema = _text_schema(p["schema"])
                if schema is None:
                    continue
                for kind in kinds:
                    text = _text(kind, schema)
                    if p["in"] == "path":
                        yield case("path", p["name"], kind, path_values={p["name"]: text})
                    else:
                        yield case("query", p["name"], kind, query={**query, p["name"]: text})
            for name, prop in (body_schema or {}).get("properties", {}).items():
                schema = _text_schema(_resolve(prop, schemas))
                if schema is None:
                    continue
                for kind in body_kinds:
                    changed = {**(body or {}), name: _text(kind, schema)}
                    yield case("body", name, kind, body=changed)
            for name, prop in (form_schema or {}).get("properties", {}).items():
                schema = _text_schema(prop)
                if schema is None or "contentMediaType" in schema:
                    continue
                for kind in kinds:
                    yield case("form", name, kind, form={name: _text(kind, schema)})
            if form_schema:
                for kind in ("nul", *(["awkward"] if awkward else [])):
                    yield case("filename", "file", kind, filename=_text(kind, {}))


def _text(kind: str, schema: dict[str, Any]) -> str:
    limit = int(schema.get("maxLength", 0))
    if kind == "nul":
        return NUL
    if kind == "surrogate":
        return SURROGATE
    if kind == "long":
        if "enum" in schema:
            return "x" * 1001  # not one of the values, and over any form field's length
        assert limit, f"text without maxLength: {schema}"
        return "x" * (limit + 1)
    length = limit or 64
    return (AWKWARD * (length // len(AWKWARD) + 1))[:length]


def _path_segment(value: str) -> str:
    return quote(value, safe="")


def _resolve(schema: dict[str, Any] | None, schemas: dict[str, Any]) -> dict[str, Any]:
    if schema and "$ref" in schema:
        return schemas[schema["$ref"].rsplit("/", 1)[-1]]  # type: ignore[no-any-return]
    return schema or {}


def _text_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The string branch of a schema (`str | None` is an anyOf), or None for non-text."""
    if schema.get("type") == "string":
        return schema
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            return branch  # type: ignore[no-any-return]
    return None


def _valid_object(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", ()))
    return {
        name: _valid(_resolve(prop, schemas))
        for name, prop in schema.get("properties", {}).items()
        if name in required
    }


def _valid(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "boolean":
        return False
    if kind == "integer":
        return schema.get("minimum", 1)
    text = _text_schema(schema)
    if text is not None:
        return "a@example.test"[: int(text.get("maxLength", 14))].rjust(
            int(text.get("minLength", 1)), "a"
        )
    return None
