"""S3-compatible backend for production: the same sealed objects, in a bucket.

The owner, deadline and creation time are also stored as object metadata, so
the retention sweep can list deadlines with HEAD requests without
downloading objects. A bucket lifecycle rule expiring objects after one day is
a sensible extra backstop (see README); the sweep does not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from picopt.kernel.blobstore.base import BlobInfo, BlobNotFound, BlobStore, validate_key
from picopt.kernel.blobstore.container import info_from_header, pack, unpack
from picopt.kernel.blobstore.crypto import EnvelopeCipher

_META_KEYS = ("key", "owner", "created_at", "deadline", "size", "kid")


class S3BlobStore(BlobStore):
    def __init__(self, client: Any, bucket: str, cipher: EnvelopeCipher, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.cipher = cipher
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def connect(
        cls,
        bucket: str,
        cipher: EnvelopeCipher,
        endpoint_url: str | None = None,
        prefix: str = "",
        region: str | None = None,
    ) -> S3BlobStore:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
        return cls(client, bucket, cipher, prefix)

    def _object(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _missing(self, err: Exception) -> bool:
        code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
        return code in {"404", "NoSuchKey", "NotFound"}

    def put(self, key: str, data: bytes, *, owner: str, deadline: datetime) -> BlobInfo:
        public = {
            "key": key,
            "owner": owner,
            "created_at": datetime.now(UTC).isoformat(),
            "deadline": deadline.astimezone(UTC).isoformat(),
            "size": len(data),
        }
        sealed = self.cipher.seal(data, public)
        self._store(key, sealed.header, sealed.ciphertext)
        return info_from_header(sealed.header)

    def _store(self, key: str, header: dict[str, Any], ciphertext: bytes) -> None:
        metadata = {name: str(header[name]) for name in _META_KEYS}
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._object(key),
            Body=pack(header, ciphertext),
            Metadata=metadata,
        )

    def _fetch(self, key: str) -> tuple[dict[str, Any], bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
        except Exception as err:
            if self._missing(err):
                raise BlobNotFound(key) from err
            raise
        return unpack(body, key)

    def get(self, key: str) -> bytes:
        header, ciphertext = self._fetch(key)
        return self.cipher.open(header, ciphertext)

    def info(self, key: str) -> BlobInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except Exception as err:
            if self._missing(err):
                raise BlobNotFound(key) from err
            raise
        return info_from_header(head["Metadata"])

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        return existed

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                try:
                    yield self.info(item["Key"][len(self.prefix) :])
                except (BlobNotFound, KeyError, ValueError):
                    continue

    def rewrap(self, key: str) -> bool:
        header, ciphertext = self._fetch(key)
        new_header = self.cipher.rewrap(header)
        if new_header is None:
            return False
        self._store(key, new_header, ciphertext)
        return True
