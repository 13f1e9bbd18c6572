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
    p.add_argument("--png", metavar="DIR", help="also write a preview of each page, DIR/page-001.png ..., "
                                                "at its real shape (what the recipient will see)")


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
    if args.png:
        result["png"] = write_previews(doc.tiff, args.png)
    print(json.dumps(result))
    return 0


def write_previews(tiff_data: bytes, directory: str) -> list[str]:
    """One PNG per fax page, stretched to square pixels (a normal-resolution page's rows are
    twice as tall as they are wide on paper), so the preview looks like the printed fax."""
    import io

    from PIL import Image

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise DocumentError(f"cannot create {directory}: {e.strerror}") from None
    paths = []
    with Image.open(io.BytesIO(tiff_data)) as im:
        for n in range(getattr(im, "n_frames", 1)):
            im.seek(n)
            xres, yres = (float(v) for v in im.info.get("dpi", (204, 196)))
            page = im.convert("L")
            if abs(xres - yres) > 1:
                page = page.resize((page.width, round(page.height * xres / yres)), Image.Resampling.NEAREST)
            path = os.path.join(directory, f"page-{n + 1:03d}.png")
            buf = io.BytesIO()
            page.save(buf, format="PNG", dpi=(xres, xres), optimize=False)
            _write(path, buf.getvalue())
            paths.append(path)
    return paths


def _write(path: str, data: bytes) -> None:
    tmp = path + ".part"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise DocumentError(f"cannot write {path}: {e.strerror}") from None
