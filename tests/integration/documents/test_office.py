"""Office documents through LibreOffice (the Makefile installs libreoffice-writer-nogui)."""
import io
import zipfile

from faxd.documents import DocumentPipeline
from tests.integration.documents.helpers import black_ratio, child_processes, frames, make_pipeline

CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
      'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
      'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
      '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
      'document.main+xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
BODY = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hello from a DOCX</w:t></w:r></w:p><w:p><w:r>'
        '<w:br w:type="page"/><w:t>Page two</w:t></w:r></w:p></w:body></w:document>')


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", BODY)
    return buf.getvalue()


def test_docx_converts_through_libreoffice(tmp_path):
    before = set(child_processes())
    pipeline, work = make_pipeline(tmp_path)
    assert isinstance(pipeline, DocumentPipeline)
    doc = pipeline.convert([(docx(), "application/octet-stream")], paper="letter")
    assert (doc.pages, doc.width, doc.paper) == (2, 1728, "letter")
    assert all(black_ratio(p) > 100 / (1728 * 2156) for p in frames(doc.tiff))   # ink on both pages
    assert list(work.iterdir()) == []
    assert set(child_processes()) - before == set()
