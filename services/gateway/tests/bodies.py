"""Large request and response bodies made on the fly, so a test never holds one in memory."""

from __future__ import annotations

import hashlib
import io
from typing import Any

BOUNDARY = "picopt-large-body"
JPEG = b"\xff\xd8\xff\xe0"


class Generated(io.RawIOBase):
    """Bytes made on the fly: `head`, then `size` deterministic filler bytes, then `tail`.
    Seekable, so clients send a Content-Length."""

    def __init__(self, head: bytes, size: int, tail: bytes = b"") -> None:
        self.head, self.size, self.tail = head, size, tail
        self.length = len(head) + size + len(tail)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view, n = memoryview(buffer), 0
        while n < len(view) and self.pos < self.length:
            filler_at = self.pos - len(self.head)
            if filler_at < 0:
                chunk = self.head[self.pos : self.pos + len(view) - n]
            elif filler_at < self.size:
                block = hashlib.sha256(str(filler_at // 4096).encode()).digest() * 128
                chunk = block[filler_at % 4096 :][: min(len(view) - n, self.size - filler_at)]
            else:
                start = filler_at - self.size
                chunk = self.tail[start : start + len(view) - n]
            view[n : n + len(chunk)] = chunk
            n += len(chunk)
            self.pos += len(chunk)
        return n


def jpeg_like(size: int) -> io.BufferedReader:
    """`size` bytes that start like a JPEG (and are not one: a worker refuses them)."""
    return io.BufferedReader(Generated(JPEG, size - len(JPEG)))


def jpeg_upload(size: int) -> Generated:
    """A multipart body (boundary BOUNDARY) with `metadata=false` and a `file` part holding
    `jpeg_like(size)`."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\nfalse\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode() + JPEG
    return Generated(head, size - len(JPEG), f"\r\n--{BOUNDARY}--\r\n".encode())


def sha256(chunks: Any) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
