"""Report layer: HTML (Jinja2) rendering of tdm results, with plots (PDF later).

* :func:`plot_individual_profile` — inline SVG of the individual predicted curve with its band,
  the measured samples (censored ones at the LLOQ), the target and the alert;
* :func:`render_recommendation_html` — self-contained, printable HTML page of a
  :class:`~imatinib_tdm.tdm.DoseRecommendation`;
* :func:`write_recommendation_report` — both, written to a file.

Imports tdm, pk and case public types; never store, service or the CLI.
"""

from imatinib_tdm.report._html import (
    DEVICE_NOTICE,
    render_recommendation_html,
    samples_from_estimate,
    write_recommendation_report,
)
from imatinib_tdm.report._plot import PlotSample, plot_individual_profile

__all__ = [
    "DEVICE_NOTICE",
    "PlotSample",
    "plot_individual_profile",
    "render_recommendation_html",
    "samples_from_estimate",
    "write_recommendation_report",
]
