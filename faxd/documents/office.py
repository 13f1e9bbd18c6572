"""Office documents to PDF with LibreOffice (``soffice --headless --convert-to pdf``)."""
from __future__ import annotations

import os
import shutil

from faxd.documents import process
from faxd.documents.errors import DocumentError, UnsupportedDocument

EXTENSIONS = {
    "application/msword": "doc", "application/vnd.ms-excel": "xls", "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt", "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp", "application/rtf": "rtf",
}

OFFICE_MEMORY = 4 << 30


def find_soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(soffice: str | None, data: bytes, content_type: str, *, cwd: str, timeout: float) -> bytes:
    """Convert an Office document to PDF in ``cwd`` (a private profile, no network, no macros)."""
    if not soffice:
        raise UnsupportedDocument(
            f"Office documents ({content_type}) need LibreOffice, which is not installed on this "
            f"server (no soffice on PATH); install libreoffice-writer-nogui or send a PDF")
    ext = EXTENSIONS.get(content_type, "bin")
    src = os.path.join(cwd, f"office-input.{ext}")
    outdir = os.path.join(cwd, "office-out")
    os.makedirs(outdir)
    with open(src, "wb") as f:
        f.write(data)
    profile = os.path.join(cwd, "office-profile")
    argv = [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
            "--nolockcheck", "--nodefault", "--convert-to", "pdf", "--outdir", outdir, src]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cwd}
    status, output = process.run(argv, cwd=cwd, timeout=timeout, what="LibreOffice", memory=OFFICE_MEMORY, env=env)
    pdf = os.path.join(outdir, "office-input.pdf")
    if status != 0 or not os.path.exists(pdf):
        raise DocumentError(f"LibreOffice could not convert the {ext} document: {process.tail(output) or 'no output'}")
    with open(pdf, "rb") as f:
        return f.read()
