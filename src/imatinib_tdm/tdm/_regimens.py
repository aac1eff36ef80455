"""Regimens a patient can be given: labelled adult regimens, TDM-practice doses, paediatric mg/m².

* :class:`Regimen` — a regular oral regimen made of whole tablets.
* :func:`candidate_regimens` — the candidates allowed by ``data/dosing.yaml`` (never a continuous
  optimum): adult regimens of the label and of published TDM practice, paediatric mg/m² doses
  rounded to whole 100 mg tablets.
* :func:`compute_body_surface_area` — Mosteller's formula (``bsa_mosteller``).

Imports the knowledge loader and errors only; never report, store or service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.tdm._knowledge import DosingRules, load_dosing_rules

__all__ = [
    "Regimen",
    "TabletCount",
    "candidate_regimens",
    "compute_body_surface_area",
    "covariates_with_current_dose",
    "current_regimen",
]

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class TabletCount:
    """``count`` tablets of ``strength_mg`` per administration."""

    strength_mg: float
    count: int


@dataclass(frozen=True)
class Regimen:
    """A regular oral regimen: ``dose_mg`` every ``interval_h`` hours.

    Attributes
    ----------
    dose_mg : float
        Amount per administration (mg).
    interval_h : float
        Dosing interval τ (h): 24 once daily, 12 twice daily.
    rule_id : str
        Id of the ``dosing.yaml`` entry that allows it.
    basis : str
        ``label``, ``tdm_practice`` or ``paediatric_bsa``.
    tablets : tuple of TabletCount
        Whole tablets making one administration (fewest tablets).
    nominal_mg_per_m2_per_day : float or None
        Paediatric dose level before rounding.
    bsa_m2 : float or None
        Body surface area used (paediatric).
    """

    dose_mg: float
    interval_h: float
    rule_id: str
    basis: str
    tablets: tuple[TabletCount, ...]
    nominal_mg_per_m2_per_day: float | None = None
    bsa_m2: float | None = None

    @property
    def administrations_per_day(self) -> float:
        """Doses per 24 h."""
        return HOURS_PER_DAY / self.interval_h

    @property
    def daily_dose_mg(self) -> float:
        """Total daily dose (mg/day)."""
        return self.dose_mg * self.administrations_per_day

    @property
    def label(self) -> str:
        """Human-readable form, e.g. ``"400 mg every 12 h (800 mg/day)"``."""
        return f"{self.dose_mg:g} mg every {self.interval_h:g} h ({self.daily_dose_mg:g} mg/day)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out = asdict(self)
        out["daily_dose_mg"] = self.daily_dose_mg
        out["label"] = self.label
        return out


def _tablets(dose_mg: float, strengths_mg: Sequence[float]) -> tuple[TabletCount, ...] | None:
    """Fewest whole tablets making ``dose_mg`` exactly, or None (small exhaustive search)."""
    strengths = sorted(strengths_mg, reverse=True)
    best: tuple[TabletCount, ...] | None = None
    best_n = math.inf

    def search(i: int, remaining: float, chosen: list[TabletCount], n: int) -> None:
        nonlocal best, best_n
        if abs(remaining) < 1e-9:
            if n < best_n:
                best, best_n = tuple(c for c in chosen if c.count), n
            return
        if i == len(strengths) or n >= best_n:
            return
        s = strengths[i]
        for count in range(int(remaining // s + 1e-9), -1, -1):
            search(i + 1, remaining - count * s, [*chosen, TabletCount(s, count)], n + count)

    search(0, float(dose_mg), [], 0)
    return best


def compute_body_surface_area(
    *, height_cm: float, weight_kg: float, rules: DosingRules | None = None
) -> float:
    """Body surface area (m²) by the formula of ``dosing.yaml`` (``bsa_mosteller``).

    Parameters
    ----------
    height_cm : float
    weight_kg : float
    rules : DosingRules, optional
        Default :func:`load_dosing_rules`.

    Returns
    -------
    float
        BSA in m², ``sqrt(height_cm * weight_kg / 3600)``.

    Raises
    ------
    CaseError
        Height or weight missing, non-finite or <= 0.

    References
    ----------
    Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317(17):1098.

    Examples
    --------
    >>> round(compute_body_surface_area(height_cm=140.0, weight_kg=35.0), 3)
    1.167
    """
    rules = load_dosing_rules() if rules is None else rules
    h = _positive("height_cm", height_cm)
    w = _positive("weight_kg", weight_kg)
    if rules.bsa.formula != "mosteller":  # the schema allows only this one today
        raise NotImplementedError(rules.bsa.formula)
    return math.sqrt(h * w / 3600.0)  # Mosteller 1987 (bsa_mosteller)


def _positive(name: str, value: float | None) -> float:
    if value is None:
        raise CaseError(f"{name} is required for this calculation", field=name)
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise CaseError(f"{name} must be a finite number > 0, got {value!r}", field=name)
    return x


def candidate_regimens(
    *,
    age_years: float,
    weight_kg: float | None = None,
    height_cm: float | None = None,
    rules: DosingRules | None = None,
    include_tdm_practice: bool = True,
) -> list[Regimen]:
    """Regimens a patient can be given, from the dosing rules only.

    Parameters
    ----------
    age_years : float
        Patients below ``adult_min_age`` (18 y) get paediatric candidates.
    weight_kg, height_cm : float, optional
        Required for children (body surface area); unused for adults.
    rules : DosingRules, optional
        Default :func:`load_dosing_rules`.
    include_tdm_practice : bool, default True
        Adults: also the non-labelled daily doses used in published TDM-driven dosing (500 and
        700 mg once daily, made of 400 + 100 mg tablets). False keeps labelled regimens only
        (300, 400, 600 mg once daily; 400 mg twice daily).

    Returns
    -------
    list of Regimen
        Sorted by daily dose, then once daily before twice daily. Regimens that cannot be made
        of whole tablets are left out.

    Raises
    ------
    CaseError
        Negative/non-finite age, or a child without weight and height.

    Notes
    -----
    Children: for each paediatric level (340 mg/m²/day standard; 260 and 200 mg/m²/day reduced)
    the dose is BSA × level, rounded to the nearest whole 100 mg (half-way up), at least 100 mg
    and at most the adult maximum (800 mg/day), once daily. Levels rounding to the same dose are
    merged (the standard level is kept).

    Examples
    --------
    >>> [r.daily_dose_mg for r in candidate_regimens(age_years=50)]
    [300.0, 400.0, 500.0, 600.0, 700.0, 800.0]
    """
    rules = load_dosing_rules() if rules is None else rules
    age = float(age_years)
    if not math.isfinite(age) or age < 0:
        raise CaseError(f"age_years must be a finite number >= 0, got {age_years!r}", field="age")
    strengths = rules.tablet_strengths.strengths_mg
    out: list[Regimen] = []
    if age >= rules.adult_min_age.value:
        for rule in rules.adult_regimens:
            if rule.basis == "tdm_practice" and not include_tdm_practice:
                continue
            tablets = _tablets(rule.dose, strengths)
            if tablets is None:
                continue
            out.append(Regimen(rule.dose, rule.interval, rule.id, rule.basis, tablets))
    else:
        bsa = compute_body_surface_area(
            height_cm=_positive("height_cm", height_cm),
            weight_kg=_positive("weight_kg", weight_kg),
            rules=rules,
        )
        paed = rules.paediatric
        step = paed.rounding.step
        levels = sorted(paed.dose_levels, key=lambda lv: (lv.role != "standard", -lv.value))
        seen: set[float] = set()
        for level in levels:
            raw = bsa * level.value
            dose = math.floor(raw / step + 0.5) * step  # nearest whole step, half-way up
            dose = min(max(dose, paed.rounding.min_dose), rules.adult_max_daily_dose.value)
            tablets = _tablets(dose, strengths)
            if dose in seen or tablets is None:
                continue
            seen.add(dose)
            out.append(
                Regimen(
                    dose,
                    paed.interval.value,
                    level.id,
                    "paediatric_bsa",
                    tablets,
                    nominal_mg_per_m2_per_day=level.value,
                    bsa_m2=bsa,
                )
            )
    out.sort(key=lambda r: (r.daily_dose_mg, r.administrations_per_day))
    return out


def current_regimen(case: Case) -> Regimen | None:
    """The regimen the patient is on: the last dose entry of the case, when it repeats.

    Returns None when the last entry is a single dose (no interval).
    """
    last = max(case.doses, key=lambda d: case.hours_since_first_dose(d.time))
    if last.interval_h is None:
        return None
    return Regimen(
        dose_mg=float(last.amount_mg),
        interval_h=float(last.interval_h),
        rule_id="current",
        basis="current regimen (last dose entry of the case)",
        tablets=(),
    )


def covariates_with_current_dose(case: Case) -> dict[str, float]:
    """The case's covariate values plus ``daily_dose_mg`` (mg/day) of :func:`current_regimen`.

    For models with the daily dose as a covariate (e.g. golabchifar2014); without a repeating
    regimen the daily dose is left out.
    """
    covariates = case.covariate_values()
    regimen = current_regimen(case)
    if regimen is not None:
        covariates["daily_dose_mg"] = regimen.daily_dose_mg
    return covariates
