"""The structured-output contract shared by the remote adapters.

One JSON schema (strict: every property required, no extras) mirrors `ImageMetadata`, so each
API's structured-output feature returns fields that map one to one. The answer is still
validated and clamped here: self-hosted servers may not enforce the schema.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from picopt.vision.v1 import vision_pb2
from services.vision.compose import ALT_TEXT_MAX, slugify

KINDS = ("photo", "graphic", "screenshot", "document")
VERDICTS = ("ok", "flagged", "blocked")

_NUMBER = {"type": "number"}
_BOX = {
    "type": "object",
    "properties": {k: {"type": "integer"} for k in ("x", "y", "width", "height")},
    "required": ["x", "y", "width", "height"],
    "additionalProperties": False,
}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


SCHEMA: dict[str, Any] = _obj(
    {
        "alt_text": {"type": "string"},
        "caption": {"type": "string"},
        "tags": {
            "type": "array",
            "items": _obj({"label": {"type": "string"}, "confidence": _NUMBER}),
        },
        "detected_text": {
            "type": "array",
            "items": _obj({"text": {"type": "string"}, "box": _BOX, "confidence": _NUMBER}),
        },
        "faces": _obj({"count": {"type": "integer"}, "boxes": {"type": "array", "items": _BOX}}),
        "colors": {"type": "array", "items": _obj({"hex": {"type": "string"}, "share": _NUMBER})},
        "kind": {"type": "string", "enum": list(KINDS)},
        "quality": _obj(
            {
                "blurry": {"type": "boolean"},
                "underexposed": {"type": "boolean"},
                "overexposed": {"type": "boolean"},
                "noisy": {"type": "boolean"},
                "sharpness": _NUMBER,
                "brightness": _NUMBER,
            }
        ),
        "safety": _obj(
            {
                "adult": _NUMBER,
                "racy": _NUMBER,
                "verdict": {"type": "string", "enum": list(VERDICTS)},
            }
        ),
        "suggested_filename": {"type": "string"},
        "language": {"type": "string"},
    }
)


def gemini_schema() -> dict[str, Any]:
    """Gemini's responseSchema is an OpenAPI subset: upper-case types, no additionalProperties."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (v.upper() if k == "type" and isinstance(v, str) else strip(v))
                for k, v in node.items()
                if k != "additionalProperties"
            }
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(copy.deepcopy(SCHEMA))


def prompt(width: int, height: int, language: str) -> str:
    return (
        f"Describe this {width}x{height} image for a web publisher. Write alt_text, caption "
        f"and tag labels in the language with BCP 47 code '{language}' and set language to "
        "that code. alt_text: at most 125 characters, the most useful fact first, never "
        "'image of' or 'picture of'. caption: one or two sentences. tags: 5 to 15 short "
        "lowercase labels with confidence 0..1. detected_text: every legible line of text, "
        "verbatim, with its pixel box in this image and confidence 0..1; empty if none. "
        "faces: number of visible human faces and their pixel boxes. colors: 3 to 6 dominant "
        "colours as #rrggbb with area shares summing to at most 1. kind: photo, graphic, "
        "screenshot or document. quality: flags plus sharpness and brightness in 0..1. "
        "safety: adult and racy likelihood in 0..1 and a verdict (ok, flagged or blocked). "
        "suggested_filename: a short lowercase SEO slug with hyphens, no extension."
    )


def _num(value: Any, low: float = 0.0, high: float = 1.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return low
    return min(high, max(low, number))


def _box(raw: Any, width: int, height: int) -> vision_pb2.Box:
    raw = raw if isinstance(raw, dict) else {}
    x = int(_num(raw.get("x"), 0, width))
    y = int(_num(raw.get("y"), 0, height))
    return vision_pb2.Box(
        x=x,
        y=y,
        width=int(_num(raw.get("width"), 0, width - x)),
        height=int(_num(raw.get("height"), 0, height - y)),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def to_metadata(data: Any, width: int, height: int, language: str) -> vision_pb2.ImageMetadata:
    """Validate a model's JSON answer into ImageMetadata; ValueError if it is not usable."""
    if not isinstance(data, dict) or not isinstance(data.get("alt_text"), str):
        raise ValueError("answer is not an ImageMetadata object")
    alt = re.sub(r"^(an? )?(image|picture|photo) of ", "", data["alt_text"].strip(), flags=re.I)
    if len(alt) > ALT_TEXT_MAX:
        alt = alt[: ALT_TEXT_MAX - 1].rstrip() + "…"
    kind = data.get("kind") if data.get("kind") in KINDS else "photo"
    meta = vision_pb2.ImageMetadata(
        alt_text=alt,
        caption=str(data.get("caption", "")).strip(),
        kind=kind,
        suggested_filename=slugify(str(data.get("suggested_filename", ""))) or kind,
        language=str(data.get("language") or language)[:35],
        width=width,
        height=height,
    )
    for tag in _list(data.get("tags")):
        if isinstance(tag, dict) and str(tag.get("label", "")).strip():
            meta.tags.add(label=str(tag["label"]).strip(), confidence=_num(tag.get("confidence")))
    for item in _list(data.get("detected_text")):
        if isinstance(item, dict) and str(item.get("text", "")).strip():
            meta.detected_text.add(
                text=str(item["text"]).strip(),
                box=_box(item.get("box"), width, height),
                confidence=_num(item.get("confidence")),
            )
    faces = _dict(data.get("faces"))
    boxes = _list(faces.get("boxes"))
    meta.faces.count = max(int(_num(faces.get("count"), 0, 10_000)), len(boxes))
    for raw in boxes:
        meta.faces.boxes.append(_box(raw, width, height))
    for color in _list(data.get("colors")):
        hex_ = str(color.get("hex", "")).lower() if isinstance(color, dict) else ""
        if re.fullmatch(r"#[0-9a-f]{6}", hex_):
            meta.colors.add(hex=hex_, share=_num(color.get("share")))
    quality = _dict(data.get("quality"))
    meta.quality.CopyFrom(
        vision_pb2.QualityFlags(
            blurry=bool(quality.get("blurry")),
            underexposed=bool(quality.get("underexposed")),
            overexposed=bool(quality.get("overexposed")),
            noisy=bool(quality.get("noisy")),
            sharpness=_num(quality.get("sharpness")),
            brightness=_num(quality.get("brightness")),
        )
    )
    safety = _dict(data.get("safety"))
    verdict = safety.get("verdict") if safety.get("verdict") in VERDICTS else "flagged"
    meta.safety.CopyFrom(
        vision_pb2.Safety(
            adult=_num(safety.get("adult")), racy=_num(safety.get("racy")), verdict=verdict
        )
    )
    return meta
