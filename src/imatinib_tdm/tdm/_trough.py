"""Log-linear correction of an imatinib level drawn away from the trough (no model needed).

:func:`correct_trough_log_linear` extrapolates a level measured ``t`` hours after a dose to the
trough at ``τ`` with a population elimination rate constant (Ther Drug Monit 2009, PMID 19730279),
gives the range obtained with the published low and high rate constants, the published error
figures, and caveats (absorption-phase sample, extrapolation beyond the published offset). The
numbers come from ``data/trough_correction.yaml`` by id.

Also defines :class:`Caveat`, the clinical caveat returned inside tdm results (not a Python
warning). Imports only the standard library, errors and the knowledge loader; never report,
store or service.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass
from typing import Any

from imatinib_tdm.errors import CaseError
from imatinib_tdm.tdm._knowledge import TroughCorrectionRules, load_trough_correction

__all__ = [
    "Caveat",
    "CaveatSeverity",
    "LogLinearTrough",
    "PublishedTroughErrorFigures",
    "correct_trough_log_linear",
]


class CaveatSeverity(enum.Enum):
    """How much a caveat limits the use of a result."""

    INFO = "info"
    """Context the reader should know."""
    WARNING = "warning"
    """The result is usable with care."""
    CRITICAL = "critical"
    """The result should not be used for a decision."""


@dataclass(frozen=True)
class Caveat:
    """A clinical caveat attached to a tdm result (shown in the report, not a Python warning).

    Attributes
    ----------
    code : str
        Stable machine-readable code, e.g. ``"absorption_phase_sample"``.
    severity : CaveatSeverity
    message : str
        What happened, with numbers and units, and what to do.
    source_id : str or None
        Id of the knowledge entry the caveat relies on.
    """

    code: str
    severity: CaveatSeverity
    message: str
    source_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "source_id": self.source_id,
        }


@dataclass(frozen=True)
class PublishedTroughErrorFigures:
    """Published deviations (%) for a sample ``offset_h`` away from the trough.

    ``uncorrected_*``: raw level vs true trough when the patient's ke is the low / typical / high
    value; ``corrected_*``: after log-linear correction with the typical ke.
    """

    offset_h: float
    uncorrected_low_ke_pct: float
    uncorrected_typical_ke_pct: float
    uncorrected_high_ke_pct: float
    corrected_low_ke_pct: float
    corrected_typical_ke_pct: float
    corrected_high_ke_pct: float
    acceptable_deviation_pct: float


@dataclass(frozen=True)
class LogLinearTrough:
    """Result of :func:`correct_trough_log_linear` (concentrations in ng/mL).

    Attributes
    ----------
    trough_ng_per_ml : float
        Extrapolated trough with ``ke_per_h``.
    range_low_ng_per_ml, range_high_ng_per_ml : float
        Sensitivity interval: the trough recomputed with the published low and high ke (and
        ``ke_per_h`` when outside them). Not a confidence interval.
    max_deviation_pct : float
        Largest relative distance (%) of the range ends from ``trough_ng_per_ml``.
    concentration_ng_per_ml, time_after_dose_h, interval_h : float
        The inputs.
    offset_from_trough_h : float
        ``time_after_dose_h - interval_h`` (negative: drawn before the trough).
    ke_per_h, ke_low_per_h, ke_high_per_h : float
        Rate constants used (1/h).
    ke_is_population_typical : bool
        False when the caller supplied ``ke_per_h``.
    is_reliable : bool
        False when a CRITICAL caveat applies (absorption-phase sample).
    published_errors : PublishedTroughErrorFigures
    caveats : tuple of Caveat
    method_id, method_citation, method_verification : str
    method_pmid : str or None
    """

    trough_ng_per_ml: float
    range_low_ng_per_ml: float
    range_high_ng_per_ml: float
    max_deviation_pct: float
    concentration_ng_per_ml: float
    time_after_dose_h: float
    interval_h: float
    offset_from_trough_h: float
    ke_per_h: float
    ke_low_per_h: float
    ke_high_per_h: float
    ke_is_population_typical: bool
    is_reliable: bool
    published_errors: PublishedTroughErrorFigures
    caveats: tuple[Caveat, ...]
    method_id: str
    method_citation: str
    method_pmid: str | None
    method_verification: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out = asdict(self)
        out["caveats"] = [c.to_dict() for c in self.caveats]
        return out


def _positive(name: str, value: float) -> float:
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise CaseError(f"{name} must be a finite number > 0, got {value!r}", field=name)
    return x


def correct_trough_log_linear(
    concentration_ng_per_ml: float,
    time_after_dose_h: float,
    interval_h: float,
    *,
    ke_per_h: float | None = None,
    rules: TroughCorrectionRules | None = None,
) -> LogLinearTrough:
    """Extrapolate a level drawn at ``time_after_dose_h`` to the trough at ``interval_h``.

    Parameters
    ----------
    concentration_ng_per_ml : float
        Measured total plasma imatinib (ng/mL), > 0.
    time_after_dose_h : float
        Time since the last dose (h), > 0.
    interval_h : float
        Dosing interval τ (h): 24 for once daily, 12 for twice daily.
    ke_per_h : float, optional
        Elimination rate constant (1/h); default the published typical value
        (``log_linear_wang2009.ke_typical``, 0.041 1/h).
    rules : TroughCorrectionRules, optional
        Default :func:`load_trough_correction`.

    Returns
    -------
    LogLinearTrough

    Raises
    ------
    CaseError
        A non-finite or non-positive input.

    Notes
    -----
    ``Cmin = C(t) · exp(ke · (t − τ))``. The range uses the published low and high ke of the
    population; it shows how far the answer moves if the patient eliminates faster or slower.
    Caveats: a sample earlier than ``min_time_after_dose_icome`` (4 h) is in the absorption /
    distribution phase, where the mono-exponential assumption fails (``is_reliable`` False); an
    offset beyond the published ±3 h, a range wider than the published acceptable deviation (20%)
    and an interval other than the published 24 h / 12 h are flagged.

    References
    ----------
    A therapeutic drug monitoring algorithm for refining the imatinib trough level obtained at
    different sampling times. Ther Drug Monit 2009 Oct; PMID 19730279.

    Examples
    --------
    >>> r = correct_trough_log_linear(1200.0, 21.0, 24.0)
    >>> round(r.trough_ng_per_ml, 1), r.is_reliable
    (1061.1, True)
    """
    rules = load_trough_correction() if rules is None else rules
    method = rules.log_linear
    c = _positive("concentration_ng_per_ml", concentration_ng_per_ml)
    t = _positive("time_after_dose_h", time_after_dose_h)
    tau = _positive("interval_h", interval_h)
    ke = method.ke_typical if ke_per_h is None else _positive("ke_per_h", ke_per_h)
    offset = t - tau

    def extrapolate(k: float) -> float:
        return c * math.exp(k * offset)

    trough = extrapolate(ke)
    candidates = [extrapolate(method.ke_low), extrapolate(method.ke_high), trough]
    low, high = min(candidates), max(candidates)
    max_dev = 100.0 * max(abs(high / trough - 1.0), abs(low / trough - 1.0))

    pub = method.published_errors
    caveats: list[Caveat] = []
    min_t = rules.min_time_after_dose
    if t < min_t.value:
        caveats.append(
            Caveat(
                code="absorption_phase_sample",
                severity=CaveatSeverity.CRITICAL,
                message=(
                    f"Sample drawn {t:g} h after the dose, before {min_t.value:g} h: absorption/"
                    "distribution phase, where log-linear extrapolation does not hold. The "
                    "extrapolated trough is unreliable; repeat the sample near the trough, or "
                    "use a model-based (Bayesian) estimate."
                ),
                source_id=min_t.id,
            )
        )
    if abs(offset) > pub.offset:
        caveats.append(
            Caveat(
                code="beyond_published_offset",
                severity=CaveatSeverity.WARNING,
                message=(
                    f"Sample {abs(offset):g} h {'before' if offset < 0 else 'after'} the trough "
                    f"time; the published error figures cover ±{pub.offset:g} h only. The "
                    "correction is an extrapolation beyond the validated offset."
                ),
                source_id=method.id,
            )
        )
    if max_dev > method.acceptable_deviation:
        caveats.append(
            Caveat(
                code="outside_acceptable_deviation",
                severity=CaveatSeverity.WARNING,
                message=(
                    f"With the published low/high ke the trough ranges {low:.0f}-{high:.0f} ng/mL, "
                    f"up to {max_dev:.0f}% from the estimate; the method's acceptable deviation "
                    f"is {method.acceptable_deviation:g}%."
                ),
                source_id=method.id,
            )
        )
    if not any(math.isclose(tau, p) for p in method.published_intervals_h):
        published = " / ".join(f"{p:g}" for p in method.published_intervals_h)
        caveats.append(
            Caveat(
                code="unpublished_interval",
                severity=CaveatSeverity.WARNING,
                message=(
                    f"Dosing interval {tau:g} h; the method was published for τ = {published} h."
                ),
                source_id=method.id,
            )
        )
    if ke_per_h is not None:
        caveats.append(
            Caveat(
                code="custom_ke",
                severity=CaveatSeverity.INFO,
                message=(
                    f"ke = {ke:g} 1/h supplied by the caller instead of the published typical "
                    f"{method.ke_typical:g} 1/h; the published error figures assume the latter."
                ),
                source_id=method.id,
            )
        )
    figures = PublishedTroughErrorFigures(
        offset_h=pub.offset,
        uncorrected_low_ke_pct=pub.uncorrected_deviation.low_ke,
        uncorrected_typical_ke_pct=pub.uncorrected_deviation.typical_ke,
        uncorrected_high_ke_pct=pub.uncorrected_deviation.high_ke,
        corrected_low_ke_pct=pub.corrected_deviation.low_ke,
        corrected_typical_ke_pct=pub.corrected_deviation.typical_ke,
        corrected_high_ke_pct=pub.corrected_deviation.high_ke,
        acceptable_deviation_pct=method.acceptable_deviation,
    )
    return LogLinearTrough(
        trough_ng_per_ml=trough,
        range_low_ng_per_ml=low,
        range_high_ng_per_ml=high,
        max_deviation_pct=max_dev,
        concentration_ng_per_ml=c,
        time_after_dose_h=t,
        interval_h=tau,
        offset_from_trough_h=offset,
        ke_per_h=ke,
        ke_low_per_h=method.ke_low,
        ke_high_per_h=method.ke_high,
        ke_is_population_typical=ke_per_h is None,
        is_reliable=not any(c.severity is CaveatSeverity.CRITICAL for c in caveats),
        published_errors=figures,
        caveats=tuple(caveats),
        method_id=method.id,
        method_citation=" ".join(method.source.citation.split()),
        method_pmid=method.source.pmid,
        method_verification=method.verification.value,
    )
