"""The document pipeline: fetch, check, convert to fax TIFF, count, render back to PDF.

``DocumentPipeline(config).convert([(data, content_type), ...])`` gives one
:class:`FaxDocument` (G4, 1728 wide, 204x196 or 204x98, A4 or Letter);
``tiff_to_pdf(tiff)`` wraps fax pages in a PDF without re-encoding them;
``fetch(url, ...)`` gets ``document.url`` through :mod:`faxd.fetch`.
"""
from faxd.documents.errors import (ConversionTimeout, DocumentError, DocumentTooLarge, FetchError,
                                   UnsupportedDocument)
from faxd.documents.detect import detect_type
from faxd.documents.pipeline import DocumentPipeline, FaxDocument

__all__ = ["DocumentError", "UnsupportedDocument", "DocumentTooLarge", "FetchError", "ConversionTimeout",
           "FaxDocument", "detect_type", "DocumentPipeline"]
