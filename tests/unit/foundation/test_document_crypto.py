"""Encryption at rest (faxd/store/crypto.py): sealed documents are not the documents, open
only with their key, and say clearly when they cannot be opened."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from faxd.errors import DocumentKeyError
from faxd.store.crypto import MAGIC, DocumentCipher, new_key_line, open_document, sealed_key_id

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 2000


def entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def test_a_sealed_document_is_not_the_document_and_opens_again():
    cipher = DocumentCipher.parse(new_key_line("k2026"))
    sealed = cipher.seal(PDF)
    assert sealed.startswith(MAGIC) and sealed_key_id(sealed) == "k2026"
    assert not sealed[40:].startswith(b"%PDF") and PDF[100:140] not in sealed and entropy(sealed[40:]) > 7.9
    assert cipher.seal(PDF) != sealed                     # a fresh nonce every time
    assert cipher.open(sealed) == PDF


def test_rotation_keeps_old_documents_readable_and_seals_new_ones_with_the_new_key():
    old_line = new_key_line("old")
    old = DocumentCipher.parse(old_line)
    sealed = old.seal(PDF)
    rotated = DocumentCipher.parse(new_key_line("new") + "\n# the previous key, until every document is rekeyed\n" + old_line)
    assert rotated.current == "new" and rotated.open(sealed) == PDF
    assert sealed_key_id(rotated.seal(PDF)) == "new"


def test_a_wrong_or_missing_key_fails_clearly():
    cipher = DocumentCipher.parse(new_key_line("k1"))
    sealed = cipher.seal(PDF)
    with pytest.raises(DocumentKeyError, match="does not open with key 'k1'"):
        DocumentCipher.parse(new_key_line("k1")).open(sealed)         # same id, other bytes
    with pytest.raises(DocumentKeyError, match="key 'k1', which is not in the document key file"):
        DocumentCipher.parse(new_key_line("k2")).open(sealed)
    with pytest.raises(DocumentKeyError, match="no document key file is configured"):
        open_document(sealed, None)
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DocumentKeyError, match="damaged"):
        cipher.open(damaged)


def test_documents_stored_before_encryption_stay_readable():
    assert open_document(PDF, None) == PDF
    assert DocumentCipher.parse(new_key_line("k")).open(PDF) == PDF


KEY = "A" * 43 + "="   # 32 zero bytes


@pytest.mark.parametrize("text, says", [
    ("", "holds no key"), ("k1 c2hvcnQ=", "32 bytes, not 5"), ("k1 not-base64!", "not base64"),
    ("bad id! " + KEY, "expected '<key id>"), ("k1 " + KEY + "\nk1 " + KEY, "given twice"),
])
def test_key_files_are_checked(text, says):
    with pytest.raises(DocumentKeyError, match=says):
        DocumentCipher.parse(text)
