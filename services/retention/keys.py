"""Master-key rotation for the blob store, without downtime.

Procedure (README "Privacy guarantees"): give every service the new MASTER_KEY
with the old one in MASTER_KEYS_OLD (rolling restart: both keys open every
object, new objects use the new key), run `rotate-keys` to re-wrap each
object's data key under the new master key (the image ciphertext is not
touched), then drop MASTER_KEYS_OLD once the report shows only the new key id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from picopt.kernel.blobstore import BlobNotFound
from picopt.kernel.logs import get_logger
from services.retention.deleter import Deleter
from services.retention.models import TrackedObject

log = get_logger(__name__)


@dataclass(frozen=True)
class RotationResult:
    rewrapped: int
    already_current: int
    failed: int
    current_key_id: str
    keys: dict[str, int]


def rotate_keys(deleter: Deleter, current_key_id: str) -> RotationResult:
    blobs = deleter.blobs
    rewrapped = current = failed = 0
    for info in list(blobs.list()):
        with deleter.lock:
            try:
                changed = blobs.rewrap(info.key)
            except BlobNotFound:
                continue  # deleted meanwhile: nothing to protect
            except Exception:
                failed += 1
                log.exception("key_rewrap_failed", key=info.key)
                continue
        rewrapped += changed
        current += not changed
    # A rewrite that raced with a deletion in another process must not bring the object back.
    with deleter.db.session() as s:
        for info in list(blobs.list()):
            row = s.get(TrackedObject, info.key)
            if row is not None and row.deleted_at is not None:
                deleter.delete_object(s, info.key, row.reason or "deleted")
    keys = Counter(info.key_id for info in blobs.list())
    log.info("keys_rotated", rewrapped=rewrapped, already_current=current, failed=failed)
    return RotationResult(rewrapped, current, failed, current_key_id, dict(keys))
