"""Hostile documents and the tools to catch them: canary files, a counting HTTP server, OCR."""
from __future__ import annotations

import http.server
import io
import os
import pwd
import secrets
import subprocess
import tempfile
import threading
import zipfile

from PIL import Image

CONTROL = "CONTROL TEXT"     # drawn by every hostile document: proves OCR reads the page


# --- canaries

def canary_in_tmp(secret: str) -> str:
    """A world-readable, world-writable canary directly under /tmp (the system temp directory)."""
    d = tempfile.mkdtemp(prefix="canary-", dir="/tmp")
    os.chmod(d, 0o777)
    path = os.path.join(d, "canary.txt")
    with open(path, "w") as f:
        f.write(secret)
    os.chmod(path, 0o666)
    return path


def canary_in_other_job(secret: str) -> str:
    """A canary laid out as another conversion's file: /tmp/faxd-doc-*/<run>/input.pdf,
    owned by the converters' user when faxd is root (as a run's own files are)."""
    conversion = tempfile.mkdtemp(prefix="faxd-doc-other-", dir="/tmp")
    os.chmod(conversion, 0o711)
    run = os.path.join(conversion, secrets.token_hex(16))
    os.mkdir(run, 0o700)
    path = os.path.join(run, "input.pdf")
    with open(path, "w") as f:
        f.write(secret)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("faxd-convert")
        for p in (run, path):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    return path


def siblings(path: str) -> list[str]:
    return sorted(os.listdir(os.path.dirname(path)))


# --- documents

def postscript_probe(paths: list[str], lists: list[str]) -> bytes:
    """PostScript that tries to read, list, write, rename and delete: whatever it reads or lists it
    prints in 28 pt on the page; what was refused it leaves blank."""
    ps = ["%!PS", "/Helvetica findfont 28 scalefont setfont", "/y 780 def",
          "/line { 30 y moveto show /y y 36 sub def } def", f"({CONTROL}) line",
          "/buf 300 string def", "/name 300 string def"]
    for p in paths:
        ps += [f"{{ ({p}) (r) file buf readstring pop line }} stopped pop",
               f"{{ ({p}.new) (w) file dup (OVERWRITTEN) writestring closefile }} stopped pop",
               f"{{ ({p}) (w) file dup (OVERWRITTEN) writestring closefile }} stopped pop",
               f"{{ ({p}) ({p}.moved) renamefile }} stopped pop",
               f"{{ ({p}) deletefile }} stopped pop"]
    for pattern in lists:
        ps.append(f"{{ ({pattern}) {{ dup length string copy line }} name filenameforall }} stopped pop")
    ps.append("showpage")
    return "\n".join(ps).encode() + b"\n"


def pdf_probe(paths: list[str]) -> bytes:
    """A PDF whose form XObjects take their data from external files (``/F``): a canary holding
    a content stream is drawn on the page if Ghostscript reads it."""
    content = b"BT /F1 36 Tf 60 760 Td (" + CONTROL.encode() + b") Tj ET"
    xobjects = b" ".join(b"/Fm%d %d 0 R" % (i, 6 + i) for i in range(len(paths)))
    content = b" ".join(b"q /Fm%d Do Q" % i for i in range(len(paths))) + b" " + content
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << " + xobjects + b" >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for p in paths:
        objs.append(b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
                    b"/Length 0 /F (" + p.encode() + b") >>\nstream\n\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def drawing(secret: str, y: int = 500) -> str:
    """A PDF content stream that draws ``secret`` large (a canary's contents for pdf_probe)."""
    return f"BT /F1 40 Tf 60 {y} Td ({secret}) Tj ET\n"


def odt_with_remote_image(url: str) -> bytes:
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2">
<office:body><office:text><text:p>{CONTROL}</text:p>
<text:p><draw:frame draw:name="img1" text:anchor-type="as-char" svg:width="5cm" svg:height="5cm">
<draw:image xlink:href="{url}/odt-image.png" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>
</draw:frame></text:p></office:text></office:body></office:document-content>"""
    manifest = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def docx_with_remote_image(url: str) -> bytes:
    ns = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
          'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
          'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
          'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"')
    types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
             'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
             'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
             '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
             'document.main+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    doc_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                'package/2006/relationships"><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships/image" Target="{url}/docx-image.png" TargetMode="External"/>'
                '</Relationships>')
    body = (f'<?xml version="1.0" encoding="UTF-8"?><w:document {ns}><w:body><w:p><w:r><w:t>{CONTROL}</w:t></w:r>'
            '</w:p><w:p><w:r><w:drawing><wp:inline><wp:extent cx="1828800" cy="1828800"/><wp:docPr id="1" '
            'name="Picture 1"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/'
            'picture"><pic:pic><pic:nvPicPr><pic:cNvPr id="0" name="x.png"/><pic:cNvPicPr/></pic:nvPicPr>'
            '<pic:blipFill><a:blip r:link="rId5"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr>'
            '<a:xfrm><a:off x="0" y="0"/><a:ext cx="1828800" cy="1828800"/></a:xfrm><a:prstGeom prst="rect"/>'
            '</pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p></w:body>'
            '</w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/_rels/document.xml.rels", doc_rels)
        z.writestr("word/document.xml", body)
    return buf.getvalue()


# --- a counting HTTP server (127.0.0.1, port 0)

class CountingServer:
    def __init__(self):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _count(self):
                outer.requests.append(f"{self.command} {self.path}")
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_OPTIONS = do_PROPFIND = _count

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# --- reading the fax

def ocr(tiff: bytes) -> str:
    """The text tesseract reads on every page of a fax TIFF (upper case, whitespace folded)."""
    im = Image.open(io.BytesIO(tiff))
    texts = []
    for i in range(im.n_frames):
        im.seek(i)
        page = io.BytesIO()
        im.convert("L").save(page, "PNG")
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "3"], input=page.getvalue(),
                             capture_output=True, check=True, timeout=60).stdout
        texts.append(out.decode("utf-8", "replace"))
    return " ".join(" ".join(texts).upper().split())
