"""Text no backend can carry or store is refused at the door, for every route at once.

JSON may spell a lone surrogate (`"\\ud800"`), which protobuf cannot encode as UTF-8, and any
text may carry NUL, which PostgreSQL's `text` cannot hold: both used to fail deep inside a
backend and answer 500. `@operation` calls `refuse_unstorable_text` before a route's own
validation, so every declared route answers 400 with the field named instead. Length is
bounded by each field's `maxLength`: in the body and query models, and here for path
parameters and form fields, which have no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from flask import request

from services.gateway.problems import Problem

# Ids, provider names and policy versions are far shorter; a longer one can name nothing.
MAX_PATH_PARAMETER = 200
# The longest meaningful job option is an `accept` list of every format (about 40 characters).
MAX_FORM_FIELD = 1000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CODES = {
    "path": "invalid-parameter",
    "query": "invalid-parameter",
    "body": "invalid-body",
    "form": "invalid-option",
}


def refuse_unstorable_text(path_params: Mapping[str, Any], body: Any, form: bool) -> None:
    """Raise a 400 problem for the first NUL or lone surrogate anywhere in the request's
    text (path parameters, query, JSON keys and values, form fields and file names), or for
    a path parameter or form field over its length."""
    for name, value in path_params.items():
        _check("path", name, value, MAX_PATH_PARAMETER)
    for name, value in request.args.items(multi=True):
        _check("query", name, name)
        _check("query", name, value)
    for location, text in _texts(body, ()):
        _check("body", location, text)
    if form:
        for name, value in request.form.items(multi=True):
            _named(name)
            _check("form", name, name)
            _check("form", name, value, MAX_FORM_FIELD)
        for name, upload in request.files.items(multi=True):
            _named(name)
            _check("form", name, upload.filename or "")


def _named(name: str | None) -> None:
    """A multipart part whose name the parser could not read (`name="\\"`: the quote is
    escaped) comes with the name None; it names no option, so the request is malformed."""
    if not name:
        raise Problem(
            400,
            _CODES["form"],
            "every form field needs a name (Content-Disposition: form-data; name=...)",
            field="",
        )


def _texts(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON document with its dotted location (keys included)."""
    if isinstance(value, str):
        yield ".".join(path) or "body", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield ".".join((*path, key)), key
            yield from _texts(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, (*path, str(index)))


def _check(where: str, field: str, value: Any, max_length: int | None = None) -> None:
    if not isinstance(value, str):
        return
    if _UNSTORABLE.search(value) or _UNSTORABLE.search(field):
        raise Problem(
            400,
            _CODES[where],
            f"{_printable(field)}: text may not contain NUL or unpaired surrogate characters",
            field=_printable(field),
        )
    if max_length is not None and len(value) > max_length:
        raise Problem(
            400,
            _CODES[where],
            f"{_printable(field)}: at most {max_length} characters",
            field=_printable(field),
        )


def _printable(field: str) -> str:
    """The field's name as it can be echoed back (a hostile key is itself the bad text)."""
    return _UNSTORABLE.sub("\ufffd", field)[:MAX_PATH_PARAMETER]
