"""``faxd convert FILE --out OUT.tif``: the document pipeline alone, on a file or a URL."""
from __future__ import annotations

import json
import os
import sys

from faxd.documents.errors import DocumentError


def add_arguments(p) -> None:
    p.add_argument("file", help="document to convert (PDF, PostScript, TIFF, PNG, JPEG, text, Office), "
                                "'-' for standard input, or an http(s) URL")
    p.add_argument("--out", required=True, metavar="OUT.tif", help="where to write the fax TIFF")
    p.add_argument("--resolution", choices=("fine", "normal"), help="fine (204x196) or normal (204x98); "
                                                                    "default from the configuration")
    p.add_argument("--paper", choices=("a4", "letter"), help="paper size; default from the configuration")
    p.add_argument("--content-type", metavar="TYPE", help="declared content type (the bytes decide)")
    p.add_argument("--pdf", metavar="OUT.pdf", help="also render the fax TIFF back to PDF")


def main(args, config) -> int:
    from faxd.documents.detect import document_type
    from faxd.documents.pipeline import DocumentPipeline

    pipeline = DocumentPipeline(config)
    declared = args.content_type
    if args.file.startswith(("http://", "https://")):
        data, fetched_type = pipeline.fetch(args.file)
        declared = declared or fetched_type
    elif args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DocumentError(f"cannot read {args.file}: {e.strerror}") from None
    content_type = document_type(data, declared, filename=os.path.basename(args.file))
    doc = pipeline.convert([(data, content_type)], resolution=args.resolution, paper=args.paper)
    _write(args.out, doc.tiff)
    result = {"pages": doc.pages, "width": doc.width, "resolution": doc.resolution, "paper": doc.paper,
              "content_type": content_type, "bytes": len(doc.tiff), "out": args.out}
    if args.pdf:
        pdf = pipeline.tiff_to_pdf(doc.tiff)
        _write(args.pdf, pdf)
        result["pdf"] = args.pdf
    print(json.dumps(result))
    return 0


def _write(path: str, data: bytes) -> None:
    tmp = path + ".part"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise DocumentError(f"cannot write {path}: {e.strerror}") from None
