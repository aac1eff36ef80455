"""The figure of the interpretation report: individual, population, or none with the reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from imatinib_tdm.case import load_case, load_demo_case
from imatinib_tdm.errors import ModelDomainError
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.report import _interpretation_plot
from imatinib_tdm.report._interpretation_plot import plot_interpretation
from imatinib_tdm.tdm import interpret

VIGNETTES = Path(__file__).resolve().parents[2] / "examples" / "vignettes"
MODEL = "widmer2006_covariate"


def test_individual_figure_for_a_level() -> None:
    case, model = load_demo_case("demo-001"), get_model(MODEL)
    figure = plot_interpretation(case, interpret(case, model), model)
    assert figure.kind == "individual"
    assert figure.svg is not None and figure.svg.startswith("<svg")
    assert "individual prediction" in figure.svg and "measured" in figure.svg


def test_first_visit_runs_to_the_steady_state_sampling_day() -> None:
    case, model = load_case(VIGNETTES / "v23-first-visit.yaml"), get_model(MODEL)
    figure = plot_interpretation(case, interpret(case, model), model)
    assert figure.kind == "population"
    assert figure.svg is not None and "population prediction" in figure.svg
    assert "sampling_arup_days" in figure.caption
    # the regimen is continued to the laboratory's steady-state day (29 days: 28 x 24 h doses
    # after the first), and the x axis ends one interval after the last dose
    doses = _interpretation_plot._case_doses(case, continue_to_steady_state=True)
    assert doses.times_h.max() == pytest.approx(28 * 24.0)
    assert ">680<" in figure.svg  # a tick label of the last interval (672-696 h)


def test_failed_profile_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    case, model = load_demo_case("demo-001"), get_model(MODEL)
    interpretation = interpret(case, model)

    def refuse(*args: object, **kwargs: object) -> str:
        raise ModelDomainError("weight_kg 400 kg is outside the model's hard domain")

    monkeypatch.setattr(_interpretation_plot, "plot_individual_profile", refuse)
    figure = plot_interpretation(case, interpretation, model)
    assert figure.svg is None and figure.kind == "none"
    assert "outside the model's hard domain" in figure.caption
    no_estimate = dataclasses.replace(interpretation, dose_recommendation=None)
    assert plot_interpretation(case, no_estimate, model).kind == "none"
