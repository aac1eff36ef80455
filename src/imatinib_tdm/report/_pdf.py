"""PDF from the package's self-contained HTML reports, with WeasyPrint (no network, no browser).

WeasyPrint lays out the HTML with pango; only the DejaVu fonts are installed on the target
machines, so the templates ask for the generic ``sans-serif`` family. The URL fetcher accepts
``data:`` URLs only: a report never makes WeasyPrint read a file or a remote URL, even if some
text in it looked like one.
"""

from __future__ import annotations

import logging

from weasyprint import HTML, URLFetcher  # type: ignore[import-untyped]  # no stubs

__all__ = ["html_to_pdf"]


class _DataUrlsOnly(URLFetcher):  # type: ignore[misc]  # weasyprint ships no type hints
    """Refuses every URL that is not a ``data:`` URL (http, https, ftp, file ...)."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)


def html_to_pdf(html: str) -> bytes:
    """Render an HTML document (e.g. a report of this package) to PDF bytes.

    Parameters
    ----------
    html : str
        A complete HTML document. Its ``@page`` CSS sets the paper size (the package's reports
        use A4).

    Returns
    -------
    bytes
        The PDF file (starts with ``%PDF``); fonts embedded, no creation date, so one machine
        gives the same bytes for the same HTML.

    Notes
    -----
    Referenced resources other than ``data:`` URLs are refused and left out (WeasyPrint logs
    each refusal on the ``weasyprint`` logger); the package's reports have none.
    """
    # weasyprint reports every refused URL and unsupported CSS property as an ERROR/WARNING
    # log record; keep them (they are the evidence of a refused fetch) but never print them
    logging.getLogger("weasyprint").addHandler(logging.NullHandler())
    document = HTML(string=html, base_url=None, url_fetcher=_DataUrlsOnly())
    pdf = document.write_pdf()
    assert isinstance(pdf, bytes)  # write_pdf() without a target returns the bytes
    return pdf
