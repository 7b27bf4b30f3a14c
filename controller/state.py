"""The controller's state between runs: objects under `controller/` of the stage bucket, written conditionally.

`S3Store` writes with `If-Match` (the ETag read) or `If-None-Match: *` (create), so two runs that overlap can
never both win: the loser gets `StateConflict` and acts on nothing. `MemoryStore` does the same in memory, for
tests and the rehearsal. Keys are relative to the prefix (`state.json` -> `controller/state.json`).
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from typing import Any, Protocol

PREFIX = "controller/"
RUN_STATE_KEY = "state.json.gz"
"""The run state of `run.py`: observed history and the change limit's base per fleet (gzipped JSON)."""


class StateConflict(RuntimeError):
    """Another run wrote the object since it was read."""


class Store(Protocol):
    def load(self, key: str) -> tuple[bytes | None, str | None]:
        """(body, version token); (None, None) when the object does not exist."""
        ...

    def save(self, key: str, body: bytes, version: str | None) -> str:
        """Write if the object is still at `version` (None: only if it does not exist); the new version token.

        Raises StateConflict otherwise."""
        ...


class MemoryStore:
    """A Store in memory (tests, rehearsal, benchmark)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def load(self, key: str) -> tuple[bytes | None, str | None]:
        with self._lock:
            body, version = self.objects.get(key, (None, None))
            return body, version

    def save(self, key: str, body: bytes, version: str | None) -> str:
        with self._lock:
            current = self.objects.get(key, (None, None))[1]
            if current != version:
                raise StateConflict(f"{key}: version {current!r}, expected {version!r}")
            self._counter += 1
            token = f"v{self._counter}"
            self.objects[key] = (bytes(body), token)
            return token


class S3Store:
    """A Store on S3 under `prefix` of `bucket`, with conditional writes."""

    def __init__(self, client: Any, bucket: str, prefix: str = PREFIX) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def load(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        return obj["Body"].read(), obj["ETag"]

    def save(self, key: str, body: bytes, version: str | None) -> str:
        condition = {"IfMatch": version} if version else {"IfNoneMatch": "*"}
        try:
            out = self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body, **condition)
        except self.client.exceptions.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or err.response.get(
                "ResponseMetadata", {}
            ).get("HTTPStatusCode") in (409, 412):
                raise StateConflict(f"s3://{self.bucket}/{self.prefix}{key}: {code}") from err
            raise
        return out["ETag"]


def encode(doc: dict[str, Any]) -> bytes:
    """Compact gzipped JSON (mtime 0: the same document gives the same bytes, those of ``gzip.compress``),
    compressed as it is encoded: the whole JSON text never exists at once."""
    deflate = zlib.compressobj(5, zlib.DEFLATED, 31)  # wbits 31: a gzip member, header mtime 0
    out, pending, size = [], [], 0
    for piece in _ENCODER.iterencode(doc):
        pending.append(piece)
        size += len(piece)
        if size >= _FEED_CHARS:
            out.append(deflate.compress("".join(pending).encode()))
            pending, size = [], 0
    out.append(deflate.compress("".join(pending).encode()))
    out.append(deflate.flush())
    return b"".join(out)


_ENCODER = json.JSONEncoder(separators=(",", ":"))
_FEED_CHARS = 1 << 16


def decode(body: bytes | None) -> dict[str, Any]:
    """The document, or {} for none; a corrupt object is an error (the caller logs it and starts afresh)."""
    if body is None:
        return {}
    doc = json.loads(gzip.decompress(body))
    if not isinstance(doc, dict):
        raise ValueError("state object is not a JSON object")
    return doc
