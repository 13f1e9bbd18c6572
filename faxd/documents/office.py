"""Office documents to PDF with LibreOffice (``soffice --headless --convert-to pdf``), in the sandbox."""
from __future__ import annotations

import shutil

from faxd.documents import process, sandbox
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


# The private profile's settings. BlockUntrustedRefererLinks: a document outside the trusted
# locations (all of them: there are none) loads no linked image or object; an ODT draw:image or
# a DOCX r:link to a loopback server makes requests without it and none with it, even outside
# the network namespace (tests/integration/documents/test_sandbox.py). Macros never run; no
# update check.
PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" \
oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" \
oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" \
oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Jobs/Jobs/org.openoffice.Office.Jobs:Job['UpdateCheck']/Arguments">\
<prop oor:name="AutoCheckEnabled" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def to_pdf(soffice: str | None, data: bytes, content_type: str, *, conversion: str, timeout: float,
           hide: str | None = None) -> bytes:
    """Convert an Office document to PDF in the sandbox (a private profile, no network, no macros)."""
    if not soffice:
        raise UnsupportedDocument(
            f"Office documents ({content_type}) need LibreOffice, which is not installed on this "
            f"server (no soffice on PATH); install libreoffice-writer-nogui or send a PDF")
    ext = EXTENSIONS.get(content_type, "bin")
    src = f"office-input.{ext}"

    def argv(private: str) -> list[str]:
        return [soffice, f"-env:UserInstallation=file://{private}/office-profile", "--headless", "--norestore",
                "--nolockcheck", "--nodefault", "--convert-to", "pdf", "--outdir", private, f"{private}/{src}"]

    result = sandbox.run(argv, inputs={src: data, "office-profile/user/registrymodifications.xcu": PROFILE.encode()},
                         outputs=("office-input.pdf",), conversion=conversion, timeout=timeout,
                         what="LibreOffice", memory=OFFICE_MEMORY, hide=hide, needs_network_isolation=True)
    pdf = result.files["office-input.pdf"]
    if result.status != 0 or not pdf:
        raise DocumentError(f"LibreOffice could not convert the {ext} document: "
                            f"{process.tail(result.output) or 'no output'}")
    return pdf
