"""The document pipeline: fetch, check, convert to fax TIFF, count, render back to PDF.

``DocumentPipeline(config).convert([(data, content_type), ...])`` gives one
:class:`FaxDocument` (G4, 1728 wide, 204x196 or 204x98, A4 or Letter);
``tiff_to_pdf(tiff)`` wraps fax pages in a PDF without re-encoding them;
``fetch(url, ...)`` gets ``document.url`` through :mod:`faxd.fetch`.
"""
from faxd import lazy
from faxd.documents.errors import (ConversionTimeout, DocumentError, DocumentTooLarge, FetchError,
                                   UnsupportedDocument)

# Imported on first use: the pipeline brings pikepdf, Pillow and gevent, which a command that
# only parses its arguments (``faxd convert --help``) must not pay for.
_LAZY = {"detect_type": "faxd.documents.detect", "DocumentPipeline": "faxd.documents.pipeline",
         "FaxDocument": "faxd.documents.pipeline"}

__getattr__ = lazy.attributes(__name__, _LAZY)


__all__ = ["DocumentError", "UnsupportedDocument", "DocumentTooLarge", "FetchError", "ConversionTimeout",
           "FaxDocument", "detect_type", "DocumentPipeline"]
