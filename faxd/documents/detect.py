"""Content type from the bytes: magic numbers first, the declared type only as a hint."""
from __future__ import annotations

import io
import logging
import zipfile

from faxd.documents.errors import DocumentError, UnsupportedDocument

logger = logging.getLogger(__name__)

PDF = "application/pdf"
POSTSCRIPT = "application/postscript"
TIFF = "image/tiff"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
TEXT = "text/plain"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
RTF = "application/rtf"

IMAGES = frozenset({TIFF, PNG, JPEG, GIF})
OFFICE = frozenset({DOC, XLS, PPT, DOCX, XLSX, PPTX, ODT, ODS, ODP, RTF})
SUPPORTED = frozenset({PDF, POSTSCRIPT, TEXT}) | IMAGES | OFFICE

# Declared types that say nothing about the content.
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary",
                      "application/x-download", "application/force-download", "application/unknown"})

# Other names for the canonical types, as browsers and mail clients send them.
_ALIASES = {
    "application/x-pdf": PDF, "application/acrobat": PDF, "text/pdf": PDF,
    "application/ps": POSTSCRIPT, "application/x-postscript": POSTSCRIPT, "image/x-eps": POSTSCRIPT,
    "application/eps": POSTSCRIPT, "application/x-eps": POSTSCRIPT, "image/eps": POSTSCRIPT,
    "image/tif": TIFF, "image/x-tiff": TIFF, "image/tiff-fx": TIFF, "image/x-tif": TIFF,
    "image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG,
    "text/rtf": RTF, "application/x-rtf": RTF,
}

_EXTENSIONS = {
    "doc": DOC, "xls": XLS, "ppt": PPT, "docx": DOCX, "xlsx": XLSX, "pptx": PPTX,
    "odt": ODT, "ods": ODS, "odp": ODP, "rtf": RTF,
}

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def normalise(content_type: str | None) -> tuple[str, dict[str, str]]:
    """``'Text/Plain; charset=UTF-8'`` -> ``('text/plain', {'charset': 'UTF-8'})``."""
    if not content_type:
        return "", {}
    main, _, rest = content_type.partition(";")
    main = main.strip().lower()
    params = {}
    for item in rest.split(";"):
        k, sep, v = item.partition("=")
        if sep:
            params[k.strip().lower()] = v.strip().strip('"')
    return _ALIASES.get(main, main), params


def sniff(data: bytes, filename: str | None = None) -> str | None:
    """The type the bytes say, or None when they match nothing we know."""
    head = data[:1024]
    if b"%PDF-" in head:
        # PDF 1.7 §7.5.2: readers accept the header anywhere in the first 1024 bytes.
        return PDF
    if data.startswith(b"%!") or data.startswith(b"\xc5\xd0\xd3\xc6") or data.startswith(b"\x04%!"):
        return POSTSCRIPT
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data.startswith(b"{\\rtf"):
        return RTF
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return TEXT   # UTF-16 with a byte order mark (Windows "Unicode" text)
    if data.startswith(_OLE2):
        return _ole2_type(filename)
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    if _looks_like_text(data):
        return TEXT
    return None


def _ole2_type(filename: str | None) -> str:
    ext = (filename or "").rpartition(".")[2].lower()
    return {"xls": XLS, "ppt": PPT}.get(ext, DOC)


def _zip_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "mimetype" in names:
                mt = z.read("mimetype")[:100].decode("ascii", "replace").strip()
                if mt in (ODT, ODS, ODP):
                    return mt
            if "[Content_Types].xml" in names:
                if any(n.startswith("word/") for n in names):
                    return DOCX
                if any(n.startswith("xl/") for n in names):
                    return XLSX
                if any(n.startswith("ppt/") for n in names):
                    return PPTX
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    return None


def _looks_like_text(data: bytes) -> bool:
    """No NULs and few control characters: text in some encoding (checked as UTF-8 later)."""
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls <= len(sample) // 100


def document_type(data: bytes, declared: str | None = None, filename: str | None = None) -> str:
    """:func:`detect_type`, keeping a declared charset on text: the type a document is stored
    and converted with (``text/plain; charset=iso-8859-1`` decodes as Latin-1, not UTF-8)."""
    found = detect_type(data, declared, filename)
    charset = normalise(declared)[1].get("charset") if found == TEXT else None
    if charset and all(c.isalnum() or c in "-_.:" for c in charset) and len(charset) <= 40:
        return f"{TEXT}; charset={charset}"
    return found


def detect_type(data: bytes, declared: str | None = None, filename: str | None = None) -> str:
    """Canonical content type of ``data``; the bytes win over ``declared``.

    A declared type that the bytes contradict is resolved in favour of the bytes when the bytes
    are a document we know; when the bytes are unrecognised, or only "text" while a binary
    type was declared, the document is refused with :class:`UnsupportedDocument`.
    """
    if not data:
        raise DocumentError("the document is empty (0 bytes)")
    declared_type, _params = normalise(declared)
    found = sniff(data, filename)
    if found is None and declared_type in OFFICE | {""} | _GENERIC and filename:
        ext = filename.rpartition(".")[2].lower()
        if ext in _EXTENSIONS and data.startswith(b"PK\x03\x04"):
            found = _EXTENSIONS[ext]
    if found is None:
        what = f"declared {declared_type}, but " if declared_type and declared_type not in _GENERIC else ""
        raise UnsupportedDocument(
            f"unsupported document: {what}the data is not PDF, PostScript, TIFF, PNG, JPEG, "
            f"plain text or an Office document (starts with {data[:8]!r})")
    if not declared_type or declared_type in _GENERIC or declared_type == found:
        return found
    if found == TEXT and declared_type in ("text/html", "application/xhtml+xml", "text/xml", "application/xml"):
        raise UnsupportedDocument(f"{declared_type} documents are not supported: send PDF or plain text")
    if found == TEXT and declared_type.startswith("text/"):
        return TEXT   # text/csv, text/markdown...: faxed as the text they are
    if found == TEXT and declared_type != TEXT:
        # Text-looking bytes under a binary type: a broken upload or a mislabelled file.
        raise UnsupportedDocument(
            f"wrong content type: declared {declared_type}, but the data is plain text, "
            f"not {_describe(declared_type)}")
    if found in OFFICE and declared_type in OFFICE:
        return declared_type if declared_type in (DOC, XLS, PPT) and found in (DOC, XLS, PPT) else found
    logger.info("declared content type %s, but the data is %s: using %s", declared_type, found, found)
    return found


def _describe(content_type: str) -> str:
    return {PDF: "a PDF", POSTSCRIPT: "PostScript", TIFF: "a TIFF image", PNG: "a PNG image",
            JPEG: "a JPEG image", GIF: "a GIF image"}.get(content_type, content_type)
