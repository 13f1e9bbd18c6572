"""Limits known at upload answer 413 before a job is stored (docs/documents.md)."""
from __future__ import annotations

import json
import struct
import zlib

import pikepdf

from tests.unit.api.conftest import URL_JOB

JOB = {k: v for k, v in URL_JOB.items() if k != "document"}


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels: header only, nothing to decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def pdf_of(pages: int) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    import io
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _upload(client, acct, *docs):
    files = [("content", ("fax.json", json.dumps({"data": JOB}), "application/json"))]
    files += [("content", (name, data, ctype)) for name, data, ctype in docs]
    from urllib3 import encode_multipart_formdata
    body, ctype = encode_multipart_formdata(files)
    return client.simulate_put(acct.base + "/faxes", body=body,
                               headers={**acct.headers, "Content-Type": ctype})


def _jobs(client, acct):
    return client.simulate_get(acct.base + "/faxes/outgoing", headers=acct.headers).json["data"]


def test_image_with_too_many_pixels_is_413_at_upload(client, acct, config):
    r = _upload(client, acct, ("bomb.png", png_header(30000, 30000), "image/png"))
    assert r.status_code == 413, r.text
    assert "30000x30000 pixels" in r.json["message"] or "too many pixels" in r.json["message"]
    assert _jobs(client, acct) == []


def test_pdf_with_too_many_pages_is_413_at_upload(client, acct, config):
    r = _upload(client, acct, ("long.pdf", pdf_of(config.max_pages + 1), "application/pdf"))
    assert r.status_code == 413, r.text
    assert f"{config.max_pages + 1} pages" in r.json["message"]
    assert _jobs(client, acct) == []


def test_pages_of_all_documents_add_up(client, acct, config):
    half = config.max_pages // 2 + 1
    r = _upload(client, acct, ("a.pdf", pdf_of(half), "application/pdf"), ("b.pdf", pdf_of(half), "application/pdf"))
    assert r.status_code == 413, r.text
    assert "together" in r.json["message"]


def test_documents_within_the_limits_are_queued(client, acct):
    r = _upload(client, acct, ("ok.png", png_header(1728, 2200), "image/png"), ("ok.pdf", pdf_of(2), "application/pdf"))
    assert r.status_code == 201, r.text
