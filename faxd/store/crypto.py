"""Encryption at rest of stored documents (sent and received faxes): AES-256-GCM.

A document is stored as ``FAXDENC1 | len(key id) | key id | 12-byte nonce | ciphertext+tag``,
the key id also in the row's ``key_id`` column (so rotation finds what is left to re-encrypt).
The key id is authenticated with the data. Keys come from a key file (``document_key_file``):
one key a line, ``<key id> <32 bytes in base64>``, the first line the key new documents are
sealed with, the others older keys still able to open what they sealed; ``#`` starts a comment.
Without a key file documents are stored as they are, and rows stored before a key was set stay
readable (no header).
"""
from __future__ import annotations

import base64
import binascii
import os
import re

from faxd.errors import DocumentKeyError

MAGIC = b"FAXDENC1"
NONCE = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DocumentCipher:
    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise DocumentKeyError("the document key file holds no key")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self.current = keys[0][0]

    @classmethod
    def parse(cls, text: str, where: str = "the document key file") -> "DocumentCipher":
        keys: list[tuple[str, bytes]] = []
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not _KEY_ID.match(parts[0]):
                raise DocumentKeyError(f"{where}, line {n}: expected '<key id> <base64 of 32 bytes>'")
            try:
                key = base64.b64decode(parts[1], validate=True)
            except (binascii.Error, ValueError):
                raise DocumentKeyError(f"{where}, line {n}: the key is not base64") from None
            if len(key) != 32:
                raise DocumentKeyError(f"{where}, line {n}: an AES-256 key is 32 bytes, not {len(key)}")
            if any(kid == parts[0] for kid, _ in keys):
                raise DocumentKeyError(f"{where}, line {n}: key id {parts[0]!r} given twice")
            keys.append((parts[0], key))
        return cls(keys)

    @classmethod
    def from_file(cls, path: str) -> "DocumentCipher":
        try:
            with open(path, encoding="ascii") as f:
                return cls.parse(f.read(), path)
        except OSError as e:
            raise DocumentKeyError(f"cannot read the document key file {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise DocumentKeyError(f"{path}: a key file is ASCII text") from None

    @classmethod
    def from_config(cls, config) -> "DocumentCipher | None":
        path = getattr(config, "document_key_file", None)
        return cls.from_file(path) if path else None

    def seal(self, data: bytes) -> bytes:
        kid = self.current.encode()
        nonce = os.urandom(NONCE)
        return MAGIC + bytes([len(kid)]) + kid + nonce + self._keys[self.current].encrypt(nonce, data, kid)

    def open(self, blob: bytes) -> bytes:
        return open_document(blob, self)


def sealed_key_id(blob: bytes) -> str | None:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
        return None
    n = blob[len(MAGIC)]
    return blob[len(MAGIC) + 1:len(MAGIC) + 1 + n].decode("ascii", "replace")


def open_document(blob: bytes, cipher: DocumentCipher | None) -> bytes:
    """The document's bytes: as stored when it has no header, else decrypted."""
    kid = sealed_key_id(blob)
    if kid is None:
        return blob
    if cipher is None:
        raise DocumentKeyError(f"this document is encrypted (key {kid!r}) and no document key file is configured "
                               "(document_key_file)")
    aead = cipher._keys.get(kid)
    if aead is None:
        raise DocumentKeyError(f"this document is encrypted with key {kid!r}, which is not in the document key file")
    start = len(MAGIC) + 1 + len(kid.encode())
    nonce, body = blob[start:start + NONCE], blob[start + NONCE:]
    from cryptography.exceptions import InvalidTag
    try:
        return aead.decrypt(nonce, body, kid.encode())
    except InvalidTag:
        raise DocumentKeyError(f"this document does not open with key {kid!r} of the key file: the key is wrong "
                               "or the stored document was damaged") from None


def new_key_line(key_id: str) -> str:
    """A key file line with a fresh random key (``faxd keys new``)."""
    if not _KEY_ID.match(key_id):
        raise DocumentKeyError("a key id is 1 to 64 letters, digits, '.', '_' or '-'")
    return f"{key_id} {base64.b64encode(os.urandom(32)).decode()}"
