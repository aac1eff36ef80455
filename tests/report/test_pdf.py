"""PDF rendering of the interpretation report: valid PDF, 1-2 A4 pages, text, no fetches."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from imatinib_tdm.case import load_case, load_demo_case
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.report import DEVICE_NOTICE, html_to_pdf, render_interpretation_html
from imatinib_tdm.tdm import interpret

VIGNETTES = Path(__file__).resolve().parents[2] / "examples" / "vignettes"


def _needs(tool: str) -> None:
    """Skip outside CI when a poppler tool is missing; in CI a missing tool is a failure."""
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} (poppler-utils) is required in CI")
        pytest.skip(f"{tool} not installed (apt-get install poppler-utils)")


def _page_count(pdf: bytes, tmp_path: Path) -> int:
    if shutil.which("pdfinfo") is not None:
        path = tmp_path / "count.pdf"
        path.write_bytes(pdf)
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
        match = re.search(r"^Pages:\s+(\d+)", info.stdout, flags=re.MULTILINE)
        assert match is not None
        return int(match.group(1))
    # without poppler: the page tree's count (WeasyPrint writes one /Type /Pages node)
    counts = re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)
    assert counts, "page count not found in the PDF"
    return int(counts[0])


@pytest.fixture(scope="module")
def demo_pdf() -> bytes:
    case, model = load_demo_case("demo-001"), get_model("widmer2006_covariate")
    return html_to_pdf(render_interpretation_html(case, interpret(case, model), model))


def test_demo_pdf_is_one_or_two_pages(demo_pdf: bytes, tmp_path: Path) -> None:
    assert demo_pdf.startswith(b"%PDF")
    assert 1 <= _page_count(demo_pdf, tmp_path) <= 2


def test_demo_pdf_text(demo_pdf: bytes, tmp_path: Path) -> None:
    _needs("pdftotext")
    path = tmp_path / "demo.pdf"
    path.write_bytes(demo_pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = re.sub(r"\s+", " ", text)
    for fact in (
        "Status: Below target",
        "measured trough 820 ng/mL",
        "demo-001",
        "400 mg every 24 h",
        "rifampicin",
        "gist_trough_demetri2009",
        "Widmer 2006 covariate model",
        "DRAFT",
        "10.1007/s00280-003-0722-9",
        DEVICE_NOTICE,
    ):
        assert fact in flat, fact
    assert "page 1 of" in flat  # the @page footer


@pytest.mark.parametrize("name", ["v23-first-visit", "v10-blq-daily"])
def test_other_vignettes_fit(name: str, tmp_path: Path) -> None:
    case, model = load_case(VIGNETTES / f"{name}.yaml"), get_model("widmer2006_covariate")
    pdf = html_to_pdf(render_interpretation_html(case, interpret(case, model), model))
    assert pdf.startswith(b"%PDF")
    assert 1 <= _page_count(pdf, tmp_path) <= 2


def test_no_url_is_fetched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[Any] = []

    def record(self: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(url)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", record)
    image = tmp_path / "x.png"
    image.write_bytes(b"not really a png")
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<link rel='stylesheet' href='https://example.invalid/style.css'>"
        "<style>@import url('http://example.invalid/a.css');</style></head><body>"
        "<img src='http://example.invalid/x.png'>"
        f"<img src='{image.as_uri()}'>"
        "<p>text ≤ ≥ ± µ é</p></body></html>"
    )
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF")
    assert opened == []
