"""Which provider analyses a job: the job's own choice when the deployment allows it.

The gateway already refuses providers the deployment does not enable; vision checks again
(an event can come from an older gateway or a differently configured one) and falls back to
the default instead of failing a job the user paid for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from picopt.kernel.logs import get_logger
from picopt.vision_providers import (
    UnknownProviderError,
    canonical,
    default_provider,
    enabled_providers,
)
from services.vision.providers import Provider, get_provider

log = get_logger(__name__)


@dataclass
class ProviderChoice:
    settings: Mapping[str, str]
    default: str = field(init=False)
    enabled: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.default = default_provider(self.settings)
        self.enabled = enabled_providers(self.settings)

    def warm_up(self) -> None:
        """Build every enabled provider now, so a misconfigured one stops the service at start."""
        for name in self.enabled:
            get_provider(name, self.settings)

    def resolve(self, requested: str) -> Provider:
        """The provider for a job; get_provider caches instances, so this is cheap per job."""
        name = self.default
        if requested:
            try:
                wanted = canonical(requested)
            except UnknownProviderError:
                wanted = ""
            if wanted in self.enabled:
                name = wanted
            else:
                log.warning("vision_provider_not_allowed", requested=requested[:40], used=name)
        return get_provider(name, self.settings)
