"""An account's AI metadata defaults: which provider and which language its jobs use.

Auth stores only names the vision catalog knows and well-formed BCP 47 tags. Whether this
deployment enables a provider is the gateway's check (it holds the vision settings), made
when the preference is set and again whenever a job would use it.
"""

from __future__ import annotations

from picopt.kernel.errors import InvalidArgument
from picopt.vision_providers import UnknownProviderError, canonical, is_language_tag


def check_vision_provider(name: str) -> str:
    """The canonical provider name ("Claude" -> "anthropic"); "" clears the preference."""
    name = name.strip()
    if not name:
        return ""
    try:
        return canonical(name)
    except UnknownProviderError as exc:
        raise InvalidArgument(
            "vision_provider is not a known AI provider", code="invalid_vision_provider"
        ) from exc


def check_language(tag: str) -> str:
    """A BCP 47 tag such as en, de or pt-BR; "" clears the preference."""
    tag = tag.strip()
    if tag and not is_language_tag(tag):
        raise InvalidArgument(
            "language must be a BCP 47 tag such as en, de or pt-BR", code="invalid_language"
        )
    return tag
