"""Parse and validate the optional fields of a job submission."""

from __future__ import annotations

import os
from collections.abc import Mapping

from picopt import formats
from picopt.formats import (
    ALWAYS_ACCEPTED,
    DEFAULT_EFFORT,
    DEFAULT_FIT,
    DEFAULT_KEEP_METADATA,
    DEFAULT_QUALITY,
    EFFORTS,
    FITS,
    KEEP_METADATA,
    MAX_DIMENSION,
    MAX_WIDTHS,
    QUALITY_PRESETS,
    REQUESTABLE,
)
from picopt.processor.v1 import processor_pb2
from picopt.vision_providers import (
    UnknownProviderError,
    canonical,
    enabled_providers,
    is_language_tag,
)
from services.gateway.problems import Problem

OUTPUT_FORMATS = REQUESTABLE


def _invalid(field: str, detail: str) -> Problem:
    return Problem(400, "invalid-option", detail, field=field)


def _dimension(form: Mapping[str, str], field: str) -> int:
    raw = form.get(field, "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DIMENSION:
        raise _invalid(field, f"{field} must be an integer from 1 to {MAX_DIMENSION}")
    return int(raw)


def _bool(form: Mapping[str, str], field: str, default: bool) -> bool:
    raw = form.get(field, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise _invalid(field, f"{field} must be true or false")


def vision_provider_choice(raw: str, settings: Mapping[str, str]) -> str:
    """A provider choice, canonical ("claude" -> "anthropic"); "" keeps the default.

    Used for a job's field and for an account's preference: only providers this deployment
    enables are accepted (400 invalid-option otherwise).
    """
    raw = raw.strip()
    if not raw:
        return ""
    allowed = enabled_providers(settings)
    try:
        name = canonical(raw)
    except UnknownProviderError:
        name = ""
    if name not in allowed:
        raise _invalid(
            "vision_provider", f"vision_provider must be one of {', '.join(allowed)} here"
        )
    return name


def language_choice(raw: str) -> str:
    """A BCP 47 language tag for AI metadata (job field or account preference); "" for none."""
    raw = raw.strip()
    if raw and not is_language_tag(raw):
        raise _invalid("language", "language must be a BCP 47 tag such as en, de or pt-BR")
    return raw


def with_account_preferences(
    options: processor_pb2.JobOptions,
    vision_provider: str,
    language: str,
    settings: Mapping[str, str] | None = None,
) -> processor_pb2.JobOptions:
    """Fill the job's empty provider and language from the account's preferences.

    The job's own values win. A stored provider the deployment no longer enables is skipped
    (the job gets the deployment default) rather than failing a submission the user did not
    make wrong.
    """
    allowed = enabled_providers(os.environ if settings is None else settings)
    if not options.vision_provider and vision_provider in allowed:
        options.vision_provider = vision_provider
    if not options.language and is_language_tag(language):
        options.language = language
    return options


def accept_from_header(header: str) -> list[str]:
    """Formats a browser-style Accept header allows, beyond the universal JPEG and PNG."""
    accepted = list(ALWAYS_ACCEPTED)
    for part in header.split(","):
        row = formats.by_mime(part)
        if row is not None and row.requestable and row.name not in accepted:
            accepted.append(row.name)
    return accepted


def parse_options(
    form: Mapping[str, str], accept_header: str, settings: Mapping[str, str] | None = None
) -> processor_pb2.JobOptions:
    """Options from the form; `settings` (default os.environ) says which providers are allowed."""
    fmt = form.get("format", "auto").strip().lower() or "auto"
    if fmt != "auto" and fmt not in OUTPUT_FORMATS:
        raise _invalid("format", f"format must be auto or one of {', '.join(OUTPUT_FORMATS)}")
    accept = [a.strip().lower() for a in form.get("accept", "").split(",") if a.strip()]
    for a in accept:
        if a not in OUTPUT_FORMATS:
            raise _invalid("accept", f"accept lists unknown format {a!r}")
    if fmt == "auto" and not accept and "image/" in accept_header:
        accept = accept_from_header(accept_header)
    quality = form.get("quality", DEFAULT_QUALITY).strip().lower() or DEFAULT_QUALITY
    if not formats.is_quality(quality):
        words = ", ".join(("auto", *QUALITY_PRESETS, "lossless"))
        raise _invalid("quality", f"quality must be {words} or 1-100")
    fit = form.get("fit", DEFAULT_FIT).strip().lower() or DEFAULT_FIT
    if fit not in FITS:
        raise _invalid("fit", f"fit must be one of {', '.join(FITS)}")
    keep = form.get("keep_metadata", DEFAULT_KEEP_METADATA).strip().lower() or DEFAULT_KEEP_METADATA
    if keep not in KEEP_METADATA:
        raise _invalid("keep_metadata", f"keep_metadata must be one of {', '.join(KEEP_METADATA)}")
    effort = form.get("effort", DEFAULT_EFFORT).strip().lower() or DEFAULT_EFFORT
    if effort not in EFFORTS:
        raise _invalid("effort", f"effort must be one of {', '.join(EFFORTS)}")
    widths: list[int] = []
    for raw in (w.strip() for w in form.get("widths", "").split(",") if w.strip()):
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DIMENSION:
            raise _invalid("widths", f"widths must be integers from 1 to {MAX_DIMENSION}")
        widths.append(int(raw))
    if len(widths) > MAX_WIDTHS:
        raise _invalid("widths", f"at most {MAX_WIDTHS} widths")
    return processor_pb2.JobOptions(
        format=fmt,
        accept=accept,
        quality=quality,
        width=_dimension(form, "width"),
        height=_dimension(form, "height"),
        fit=fit,
        keep_metadata=keep,
        metadata=_bool(form, "metadata", True),
        widths=sorted(set(widths)),
        placeholder=_bool(form, "placeholder", False),
        enlarge=_bool(form, "enlarge", False),
        vision_provider=vision_provider_choice(
            form.get("vision_provider", ""), os.environ if settings is None else settings
        ),
        language=language_choice(form.get("language", "")),
        effort=effort,
    )
