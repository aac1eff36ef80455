"""Result types of the sampling checks: :class:`SampleCheck`, :class:`SamplingAssessment`,
:class:`LloqOrigin`.

Owns the frozen records that :func:`imatinib_tdm.tdm._sampling.check_sampling` returns and their
JSON-ready ``to_dict``; no checking logic. Re-exported by :mod:`imatinib_tdm.tdm._sampling`.

Imports only the tdm findings; never case, report, store or service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from imatinib_tdm.tdm._findings import Finding

__all__ = ["LloqOrigin", "SampleCheck", "SamplingAssessment"]


class LloqOrigin(enum.Enum):
    """Where the LLOQ used for a sample comes from."""

    SAMPLE = "sample"
    """Given with the sample (the laboratory's own limit)."""
    DEFAULT = "default"
    """The default of ``data/sampling.yaml`` (``default_lloq_lc_ms_ms``)."""


@dataclass(frozen=True)
class SampleCheck:
    """Sampling and analytical check of one sample (see :func:`check_sampling`).

    Attributes
    ----------
    sample_index : int
        Position in ``case.samples``.
    sample_label : str
        The sample id, or ``"samples[i]"`` when it has none.
    sample_time_h : float
        Hours since the first dose.
    concentration_ng_per_ml : float
        As reported, converted to ng/mL (meaningless when ``is_below_lloq``).
    last_dose_time_h, last_dose_mg : float or None
        Last administration taken strictly before the sample (None: no dose before it).
    time_since_last_dose_h : float or None
    interval_h : float or None
        Dosing interval in effect at the last dose (None: not known, e.g. one single dose).
    trough_window_id : str or None
        Window rule of that interval (None: no window published for it).
    window_lower_h, window_upper_h, offset_from_trough_h : float or None
        The window and ``time_since_last_dose_h - interval_h``.
    is_trough : bool
        True when drawn inside the window after a dose (never True without a window).
    is_absorption_phase : bool
        Drawn earlier than ``min_time_after_dose_icome`` after the dose.
    n_missed_doses_since_last_dose : int
        Scheduled administrations missed between the last dose taken and the sample.
    days_on_therapy : float
        Elapsed days from the first recorded dose to the sample.
    days_since_dose_change : float or None
        Elapsed days from the first administration of the current regimen (after a change of
        amount or interval, or a restart after a pause) to the sample; None when unchanged.
    n_missed_doses_in_window : int
        Missed administrations within ``min_days_after_dose_change`` days before the sample.
    is_steady_state : bool
        The laboratory rule (``steady_state_rule_id``) holds.
    steady_state_fraction_frac, steady_state_fraction_slow_frac : float
        Model-free: 1 - exp(-ke t) with the typical and the low population ke, t the time since
        the change (or the first dose).
    steady_state_note : str
        The model-free note in words.
    lloq_ng_per_ml : float
    lloq_origin : LloqOrigin
    lloq_source_id : str or None
        Id of the default LLOQ entry when it was used; None for the sample's own LLOQ.
    is_below_lloq : bool
        Reported below the LLOQ used: censored.
    assay : str or None
    is_preferred_assay : bool or None
        None when no assay is given.
    matrix : str or None
    not_interpretable_reason : str or None
        Why the measured level cannot be classified as a trough as it stands (unit mix-up, no
        dose before it, off-time, no trough window, matrix without plasma targets); None when it
        can.
    has_overriding_reason : bool
        A reason (suspected unit mix-up, no dose before the sample) makes even a censored result
        meaningless.
    findings : tuple of Finding
        Ranked (:func:`rank_findings`).
    """

    sample_index: int
    sample_label: str
    sample_time_h: float
    concentration_ng_per_ml: float
    last_dose_time_h: float | None
    last_dose_mg: float | None
    time_since_last_dose_h: float | None
    interval_h: float | None
    trough_window_id: str | None
    window_lower_h: float | None
    window_upper_h: float | None
    offset_from_trough_h: float | None
    is_trough: bool
    is_absorption_phase: bool
    n_missed_doses_since_last_dose: int
    days_on_therapy: float
    days_since_dose_change: float | None
    n_missed_doses_in_window: int
    is_steady_state: bool
    steady_state_rule_id: str
    steady_state_fraction_frac: float
    steady_state_fraction_slow_frac: float
    steady_state_note: str
    lloq_ng_per_ml: float
    lloq_origin: LloqOrigin
    lloq_source_id: str | None
    is_below_lloq: bool
    assay: str | None
    is_preferred_assay: bool | None
    matrix: str | None
    not_interpretable_reason: str | None
    has_overriding_reason: bool
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif name == "findings":
                value = [f.to_dict() for f in value]
            out[name] = value
        return out


@dataclass(frozen=True)
class SamplingAssessment:
    """Result of :func:`check_sampling`.

    Attributes
    ----------
    latest : SampleCheck or None
        The latest sample (by time; the last listed on a tie); None when the case has none.
    samples : tuple of SampleCheck
        Every sample, in file order.
    findings : tuple of Finding
        Ranked findings of the latest sample plus the case-level ones (no sample yet, dose
        history); per-sample findings are in each :class:`SampleCheck`.
    rule_ids : tuple of str
        Knowledge entries the checks used (provenance).
    """

    latest: SampleCheck | None
    samples: tuple[SampleCheck, ...]
    findings: tuple[Finding, ...]
    rule_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "latest": None if self.latest is None else self.latest.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
            "findings": [f.to_dict() for f in self.findings],
            "rule_ids": list(self.rule_ids),
        }
