"""Report layer: HTML (Jinja2) and PDF (WeasyPrint) rendering of tdm results, with plots.

* :func:`plot_individual_profile` — inline SVG of the individual predicted curve with its band,
  the measured samples (censored ones at the LLOQ), the target and the alert;
* :func:`render_recommendation_html` — self-contained, printable HTML page of a
  :class:`~imatinib_tdm.tdm.DoseRecommendation`;
* :func:`write_recommendation_report` — both, written to a file;
* :func:`render_interpretation_html` — the one-to-two-page TDM interpretation report of an
  :class:`~imatinib_tdm.tdm.Interpretation` (patient identifiers from :class:`ReportPatient`,
  validation state from :class:`ReportValidation`); :func:`write_interpretation_report` writes
  it as HTML or PDF;
* :func:`html_to_pdf` — PDF bytes of any of these pages (no network fetches).

Imports tdm, pk and case public types; never store, service or the CLI.
"""

from imatinib_tdm.report._html import (
    DEVICE_NOTICE,
    render_recommendation_html,
    samples_from_estimate,
    write_recommendation_report,
)
from imatinib_tdm.report._interpretation import (
    render_interpretation_html,
    write_interpretation_report,
)
from imatinib_tdm.report._pdf import html_to_pdf
from imatinib_tdm.report._plot import PlotSample, plot_individual_profile
from imatinib_tdm.report._report_inputs import ReportPatient, ReportValidation

__all__ = [
    "DEVICE_NOTICE",
    "PlotSample",
    "ReportPatient",
    "ReportValidation",
    "html_to_pdf",
    "plot_individual_profile",
    "render_interpretation_html",
    "render_recommendation_html",
    "samples_from_estimate",
    "write_interpretation_report",
    "write_recommendation_report",
]
