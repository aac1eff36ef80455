"""Classification of a trough: :func:`classify_trough` and :func:`classify_sample`.

Owns the comparison of a level with an efficacy target and a high-level alert (boundaries in
:func:`classify_trough`), the checks of the thresholds used, and the reading of a checked sample
as a measured trough. Re-exported by :mod:`imatinib_tdm.tdm._sampling`.

Imports errors and the tdm findings and knowledge types; never case, report, store or service.
"""

from __future__ import annotations

import math

from imatinib_tdm.errors import CaseError, KnowledgeBaseError
from imatinib_tdm.tdm._findings import TroughStatus
from imatinib_tdm.tdm._knowledge import Threshold, ThresholdKind
from imatinib_tdm.tdm._sampling_types import SampleCheck

__all__ = ["classify_sample", "classify_trough"]


def _threshold_value(
    threshold: Threshold | float, kind: ThresholdKind, name: str
) -> tuple[float, str]:
    if isinstance(threshold, Threshold):
        if threshold.kind is not kind:
            raise KnowledgeBaseError(
                f"{name}: threshold {threshold.id!r} is of kind {threshold.kind.value!r}, "
                f"expected {kind.value!r}; pick an id of that kind from targets.yaml",
                threshold_id=threshold.id,
            )
        return threshold.value_ng_per_ml, threshold.id
    value = float(threshold)
    if not math.isfinite(value) or value <= 0:
        raise KnowledgeBaseError(f"{name} must be a finite number > 0 ng/mL, got {threshold!r}")
    return value, f"{value:g} ng/mL"


def classify_trough(
    value_ng_per_ml: float | None,
    below_lloq: bool,
    target: Threshold | float,
    alert: Threshold | float | None = None,
) -> TroughStatus:
    """Classify a trough against an efficacy target and an optional high-level alert.

    Parameters
    ----------
    value_ng_per_ml : float or None
        The trough (measured or estimated), total plasma imatinib in ng/mL; None when there is no
        number (not measured, or censored).
    below_lloq : bool
        The level was reported below the LLOQ (censored).
    target : Threshold or float
        Efficacy target (a ``targets.yaml`` entry of kind ``efficacy_target``, or ng/mL).
    alert : Threshold or float, optional
        High-level alert (kind ``alert``, or ng/mL); none by default.

    Returns
    -------
    TroughStatus
        ``BELOW_LLOQ`` when ``below_lloq`` (whatever the value); ``NOT_INTERPRETABLE`` when
        there is no value (the reason is "no concentration"); otherwise ``ABOVE_ALERT`` when
        ``value > alert``, ``ON_TARGET`` when ``value >= target``, else ``SUBTHERAPEUTIC``.

    Raises
    ------
    CaseError
        A negative or non-finite value.
    KnowledgeBaseError
        A target or alert that is not positive, of the wrong kind, or an alert not above the
        target.

    Notes
    -----
    Boundaries. A trough exactly at the target is **on target**: the published groups are
    "< 1100 vs >= 1100 ng/mL" (Ran 2024, R1, threshold from Demetri 2009, whose poor-outcome
    quartile is "below 1,100 ng/mL", R2), "≥ 1000 ng/mL" for CML and "≥ 1165 ng/mL" for TOPS
    (KB section 5a), and ``targets.yaml`` defines an efficacy target as "trough should be >=
    value". The issue's shorthand "Cmin > 1100" is read as that. A trough exactly at the alert
    is **not** above it: ``targets.yaml`` defines an alert as "trough > value is a caution"
    (Zhuang 2018 gives a ROC cut-off, 1451.6 ng/mL, without a side).

    Examples
    --------
    >>> from imatinib_tdm.tdm._knowledge import Indication, load_targets
    >>> targets = load_targets()
    >>> gist = targets.default_target(Indication.GIST)
    >>> alert = targets.default_alert(Indication.GIST)
    >>> classify_trough(1100.0, False, gist, alert).value
    'on_target'
    >>> classify_trough(1099.9, False, gist, alert).value
    'subtherapeutic'
    >>> classify_trough(1451.6, False, gist, alert).value, classify_trough(1452, False, gist, alert)
    ('on_target', <TroughStatus.ABOVE_ALERT: 'above_alert'>)
    """
    target_ng_per_ml, target_label = _threshold_value(
        target, ThresholdKind.EFFICACY_TARGET, "target"
    )
    alert_ng_per_ml: float | None = None
    if alert is not None:
        alert_ng_per_ml, alert_label = _threshold_value(alert, ThresholdKind.ALERT, "alert")
        if alert_ng_per_ml <= target_ng_per_ml:
            raise KnowledgeBaseError(
                f"the alert ({alert_label}, {alert_ng_per_ml:g} ng/mL) must be above the target "
                f"({target_label}, {target_ng_per_ml:g} ng/mL); choose another pair"
            )
    if below_lloq:
        return TroughStatus.BELOW_LLOQ
    if value_ng_per_ml is None:
        return TroughStatus.NOT_INTERPRETABLE
    value = float(value_ng_per_ml)
    if not math.isfinite(value) or value < 0:
        raise CaseError(
            f"trough must be a finite number >= 0 ng/mL, got {value_ng_per_ml!r}",
            field="value_ng_per_ml",
        )
    if alert_ng_per_ml is not None and value > alert_ng_per_ml:
        return TroughStatus.ABOVE_ALERT
    if value >= target_ng_per_ml:
        return TroughStatus.ON_TARGET
    return TroughStatus.SUBTHERAPEUTIC


def classify_sample(
    check: SampleCheck,
    target: Threshold | float,
    alert: Threshold | float | None = None,
) -> TroughStatus:
    """Classify a checked sample as a measured trough.

    Parameters
    ----------
    check : SampleCheck
    target, alert
        As :func:`classify_trough`.

    Returns
    -------
    TroughStatus
        ``NOT_INTERPRETABLE`` when a suspected unit mix-up or a missing dose makes the number
        meaningless (even if censored); else ``BELOW_LLOQ`` when censored; else
        ``NOT_INTERPRETABLE`` when the level is not a trough as it stands (off-time, no window,
        a matrix without plasma targets: estimate the trough instead); else
        :func:`classify_trough` of the level. The reason is ``check.not_interpretable_reason``.
    """
    if check.has_overriding_reason:
        classify_trough(None, False, target, alert)  # still validates the thresholds
        return TroughStatus.NOT_INTERPRETABLE
    if check.is_below_lloq:
        return classify_trough(None, True, target, alert)
    if check.not_interpretable_reason is not None:
        classify_trough(None, False, target, alert)
        return TroughStatus.NOT_INTERPRETABLE
    return classify_trough(check.concentration_ng_per_ml, False, target, alert)
