"""S3-compatible backend for production: the same sealed objects, in a bucket.

The owner, deadline and creation time are also stored as object metadata, so
the retention sweep can list deadlines with HEAD requests without
downloading objects. A bucket lifecycle rule expiring objects after one day is
a sensible extra backstop (see README); the sweep does not depend on it.

Objects go up as multipart uploads fed chunk by chunk and come down as a
stream, so neither holds an object in memory.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

from picopt.kernel.blobstore.base import Blob, BlobInfo, BlobNotFound, BlobStore, validate_key
from picopt.kernel.blobstore.container import (
    PREFIX_SIZE,
    header_length,
    info_from_header,
    prefix,
    seal,
    stored_size,
)
from picopt.kernel.blobstore.crypto import CHUNK, EnvelopeCipher

_META_KEYS = ("key", "owner", "created_at", "deadline", "size", "kid")
# Multipart parts of 5 MiB (S3's smallest), one at a time: what an upload holds in memory.
PART = 5 * 1024 * 1024


class S3BlobStore(BlobStore):
    def __init__(
        self,
        client: Any,
        bucket: str,
        cipher: EnvelopeCipher,
        prefix: str = "",
        write_format: int = 2,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.cipher = cipher
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.write_format = write_format

    @classmethod
    def connect(
        cls,
        bucket: str,
        cipher: EnvelopeCipher,
        endpoint_url: str | None = None,
        prefix: str = "",
        region: str | None = None,
        write_format: int = 2,
    ) -> S3BlobStore:
        import boto3
        from botocore.config import Config

        # Checksums only where S3 requires them: a computed one makes botocore hold copies
        # of every part (the payload is authenticated by AES-GCM anyway).
        config = Config(request_checksum_calculation="when_required")
        client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region, config=config
        )
        return cls(client, bucket, cipher, prefix, write_format)

    def _object(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _missing(self, err: Exception) -> bool:
        code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
        return code in {"404", "NoSuchKey", "NotFound"}

    def put_stream(
        self, key: str, source: BinaryIO, size: int, *, owner: str, deadline: datetime
    ) -> BlobInfo:
        header, body = seal(
            self.cipher, self.write_format, key, source, size, owner=owner, deadline=deadline
        )
        self._store(key, header, body)
        return info_from_header(header)

    def _store(self, key: str, header: dict[str, Any], body: Iterable[bytes]) -> None:
        """One PUT for a small object, else a multipart upload fed one PART at a time."""
        metadata = {name: str(header[name]) for name in _META_KEYS}
        name = self._object(key)
        parts = _parts(_with_prefix(header, body))
        if stored_size(header) <= PART:
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=b"".join(parts), Metadata=metadata
            )
            return
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=name, Metadata=metadata
        )["UploadId"]
        try:
            done: list[dict[str, Any]] = []
            # No enumerate(): its reused result tuple would keep the sent part alive while
            # the next one is built. Each part goes up as a stream closed after the call: a
            # retried request leaves tracebacks in reference cycles that hold the body until
            # the garbage collector runs, and a closed stream holds nothing.
            for part in parts:
                number = len(done) + 1
                with io.BytesIO(part) as stream:
                    del part
                    etag = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload,
                        PartNumber=number,
                        Body=stream,
                    )["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload, MultipartUpload={"Parts": done}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
            raise

    def _stream(self, key: str) -> tuple[dict[str, Any], Any]:
        """The header and the body stream positioned at the ciphertext."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"]
        except Exception as err:
            if self._missing(err):
                raise BlobNotFound(key) from err
            raise
        try:
            length = header_length(body.read(PREFIX_SIZE), key)
            header: dict[str, Any] = json.loads(body.read(length))
        except BaseException:
            body.close()
            raise
        return header, body

    def _open(self, key: str) -> Blob:
        header, body = self._stream(key)
        if header.get("v", 1) == 1:
            chunks: Iterator[bytes] = iter([self.cipher.open(header, body.read())])
        else:
            chunks = self.cipher.open_stream(header, body)
        return Blob(info_from_header(header), chunks, body.close)

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
        """A new header under the current master key; the ciphertext is copied, never opened."""
        header, body = self._stream(key)
        try:
            new_header = self.cipher.rewrap(header)
            if new_header is None:
                return False
            self._store(key, new_header, iter(lambda: body.read(CHUNK), b""))
        finally:
            body.close()
        return True


def _with_prefix(header: dict[str, Any], body: Iterable[bytes]) -> Iterator[bytes]:
    yield prefix(header)
    yield from body


def _parts(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces regrouped into PART-sized parts (S3's minimum part is 5 MiB, but the last).

    Each part is one join of the pieces it is made of: an upload holds about two parts in
    memory (the pieces of the next one and the one being sent), whatever the object's size.
    """
    held: list[memoryview] = []
    size = 0
    for piece in pieces:
        view = memoryview(piece)
        while len(view):
            take = min(len(view), PART - size)
            held.append(view[:take])
            size, view = size + take, view[take:]
            if size == PART:
                part = b"".join(held)
                held.clear()
                size = 0
                yield part
                del part
    if held:
        yield b"".join(held)
