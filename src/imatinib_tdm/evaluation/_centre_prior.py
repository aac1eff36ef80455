"""Centre-informed prior over models: the centre's population as a finite mixture of models.

This package's method (the reference KB cites no published formula for it). With equal prior
model probabilities, a patient with one or two earlier levels cannot push the likelihood weight
of a dozen biased library models to zero, and together they bias an average (docs/evaluation.md).
A centre's data say more than one patient's: treat the centre's population as a finite mixture
of the candidate models, patient i coming from model m with probability ``π_m``, and estimate
the mixing proportions by EM from each patient's marginal likelihood of *all* their data under
each model (``L_im = exp(−c_im/2)``, ``c_im`` the ``individual_criterion`` of
:mod:`._predictions`)::

    E step:  r_im = π_m L_im / Σ_j π_j L_ij
    M step:  π_m  = (a + Σ_i r_im) / (N + M·a)

(``N`` patients with at least one finite criterion, ``M`` models). The M step is the posterior
mode under a symmetric Dirichlet(1 + a) prior on π: ``a`` pseudo-patients per model
(:data:`DEFAULT_PSEUDO_COUNT` = 1, add-one smoothing; a package choice) keep every proportion
at least ``a / (N + M·a)`` so that no model is ruled out by a finite sample. A patient's model
weights then become ``w_m ∝ π_m · exp(−c_m/2)`` (:func:`._weights.likelihood_weights`, also
the E step's responsibilities ``r_im``).

**Cross-fitting.** A patient's own levels must not inform their own prior (they already enter
through the likelihood; using them twice would overstate the evidence and flatter the
evaluation). Patients are split into ``K`` folds (default 5) by their order in the data
(patient ``k`` goes to fold ``k mod K``; deterministic, and interleaved so that a file sorted by
site or date still spreads over the folds); the ``π`` used for a patient of fold ``f`` is
estimated on the other ``K − 1`` folds only. The ``π`` on all patients is the centre's ranking
in a usable form (``evaluate --json`` writes it as ``centre_model_prior``; ``interpret --model
auto --model-prior FILE`` reads it).

**Too few patients.** Below :data:`DEFAULT_MIN_PATIENTS` (20, a package choice: with fewer
patients than about one per candidate model the proportions say little) the prior falls back
to uniform (equal proportions), and ``fallback`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imatinib_tdm.evaluation._layout import FloatArray, IntArray
from imatinib_tdm.evaluation._predictions import ModelPredictions
from imatinib_tdm.evaluation._weights import likelihood_weights

__all__ = [
    "DEFAULT_MIN_PATIENTS",
    "DEFAULT_N_FOLDS",
    "DEFAULT_PSEUDO_COUNT",
    "CentreModelPrior",
    "centre_model_prior",
    "mixture_proportions",
    "patient_criteria",
]

DEFAULT_N_FOLDS = 5
"""Cross-fitting folds (package choice)."""

DEFAULT_PSEUDO_COUNT = 1.0
"""Dirichlet pseudo-patients per model in the M step (add-one smoothing; package choice)."""

DEFAULT_MIN_PATIENTS = 20
"""Fewer patients than this: uniform prior (package choice)."""

_MAX_ITERATIONS = 2000
_TOLERANCE = 1e-10


def mixture_proportions(
    criteria: FloatArray, *, pseudo_count: float = DEFAULT_PSEUDO_COUNT
) -> FloatArray:
    """Mixing proportions of the models by EM (module docstring), from ``(n_patients, n_models)``.

    ``criteria`` are -2 log marginal likelihoods of each patient's data under each model; a
    non-finite entry means the model gives the patient likelihood 0; patients without a finite
    entry are ignored. Without any usable patient the proportions are uniform.

    Examples
    --------
    >>> c = np.array([[0.0, 20.0]] * 3 + [[20.0, 0.0]])  # 3 patients clearly model 0, 1 model 1
    >>> mixture_proportions(c, pseudo_count=0.0).round(3).tolist()
    [0.75, 0.25]
    >>> mixture_proportions(c, pseudo_count=1.0).round(3).tolist()  # (3+1)/(4+2), (1+1)/(4+2)
    [0.667, 0.333]
    """
    crit = np.asarray(criteria, dtype=np.float64)
    if crit.ndim != 2:
        raise ValueError("criteria must be (n_patients, n_models)")
    n_models = crit.shape[1]
    if pseudo_count < 0 or not np.isfinite(pseudo_count):
        raise ValueError("pseudo_count must be a finite number >= 0")
    if n_models == 0:
        return np.zeros(0)
    crit = crit[np.isfinite(crit).any(axis=1)]
    if crit.shape[0] == 0:
        return np.full(n_models, 1.0 / n_models)
    pi = np.full(n_models, 1.0 / n_models)
    denominator = crit.shape[0] + n_models * pseudo_count
    for _ in range(_MAX_ITERATIONS):
        resp = likelihood_weights(crit, pi)  # E step: each patient's posterior model weights
        updated = (resp.sum(axis=0) + pseudo_count) / denominator
        updated = updated / updated.sum()
        if np.max(np.abs(updated - pi)) < _TOLERANCE:
            pi = updated
            break
        pi = updated
    return pi


@dataclass(frozen=True, eq=False)
class CentreModelPrior:
    """The centre's prior over models: proportions on all patients and cross-fitted per patient.

    Attributes
    ----------
    model_ids : tuple of str
    proportions : ndarray (n_models,)
        ``π`` estimated on all patients (the centre's ranking; sums to 1).
    patient_ids : tuple of str, in data order
    patient_prior : ndarray (n_patients, n_models)
        The prior used for each patient: ``π`` estimated without the patient's fold (uniform
        in the fallback case).
    folds : int ndarray (n_patients,), the fold of each patient
    n_folds : int
    pseudo_count : float
    fallback : str or None
        Why the prior is uniform (too few patients), else None.
    """

    model_ids: tuple[str, ...]
    proportions: FloatArray
    patient_ids: tuple[str, ...]
    patient_prior: FloatArray
    folds: IntArray
    n_folds: int
    pseudo_count: float
    fallback: str | None = None

    def as_mapping(self) -> dict[str, float]:
        """``π`` on all patients as model id -> proportion."""
        return {m: float(p) for m, p in zip(self.model_ids, self.proportions, strict=True)}

    def describe(self) -> str:
        """One-line description for labels and reports."""
        if self.fallback is not None:
            return f"uniform prior ({self.fallback})"
        return (
            f"centre prior (mixture proportions by EM on {len(self.patient_ids)} patients, "
            f"cross-fitted over {self.n_folds} folds, {self.pseudo_count:g} pseudo-patient(s) "
            "per model)"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready settings (the proportions themselves are :meth:`as_mapping`)."""
        return {
            "method": "finite mixture of the candidate models, proportions by EM from each "
            "patient's marginal likelihood of all their data; cross-fitted per patient",
            "n_patients": len(self.patient_ids),
            "n_folds": self.n_folds,
            "pseudo_count": self.pseudo_count,
            "fallback": self.fallback,
        }


def patient_criteria(
    parts: Sequence[ModelPredictions],
) -> tuple[tuple[str, ...], FloatArray]:
    """Patients in data order and their ``individual_criterion`` per model, ``(n_p, n_models)``."""
    if not parts:
        return (), np.zeros((0, 0))
    pid = parts[0].patient_id
    ids, first = np.unique(pid, return_index=True)
    order = np.argsort(first, kind="stable")
    starts = first[order]
    crit = np.stack([np.asarray(p.individual_criterion, np.float64)[starts] for p in parts], 1)
    return tuple(str(i) for i in ids[order]), crit


def centre_model_prior(
    model_ids: Sequence[str],
    patient_ids: Sequence[str],
    criteria: FloatArray,
    *,
    n_folds: int = DEFAULT_N_FOLDS,
    pseudo_count: float = DEFAULT_PSEUDO_COUNT,
    min_patients: int = DEFAULT_MIN_PATIENTS,
) -> CentreModelPrior:
    """The centre prior over ``model_ids`` from per-patient criteria (module docstring).

    Parameters
    ----------
    model_ids : sequence of str
    patient_ids : sequence of str, patients in data order (fold = position mod ``n_folds``)
    criteria : ndarray (n_patients, n_models)
        -2 log marginal likelihood of each patient's data under each model (nan: not evaluable).
    n_folds : int, default 5
    pseudo_count : float, default 1
    min_patients : int, default 20
        Fewer patients with data: uniform prior, ``fallback`` set.

    Returns
    -------
    CentreModelPrior
    """
    crit = np.asarray(criteria, dtype=np.float64)
    n_p, n_m = len(patient_ids), len(model_ids)
    if crit.shape != (n_p, n_m):
        raise ValueError(f"criteria must be {(n_p, n_m)}, got {crit.shape}")
    if n_folds < 2:
        raise ValueError("n_folds must be at least 2")
    folds = np.arange(n_p) % n_folds
    with_data = int(np.isfinite(crit).any(axis=1).sum())
    uniform = np.full(n_m, 1.0 / n_m) if n_m else np.zeros(0)
    if with_data < max(min_patients, n_folds):
        return CentreModelPrior(
            model_ids=tuple(model_ids),
            proportions=uniform,
            patient_ids=tuple(patient_ids),
            patient_prior=np.tile(uniform, (n_p, 1)),
            folds=folds,
            n_folds=n_folds,
            pseudo_count=pseudo_count,
            fallback=f"{with_data} patients with levels, fewer than the {min_patients} needed "
            "to estimate a centre prior",
        )
    per_patient = np.empty((n_p, n_m))
    for fold in range(n_folds):
        held_out = folds == fold
        per_patient[held_out] = mixture_proportions(crit[~held_out], pseudo_count=pseudo_count)
    return CentreModelPrior(
        model_ids=tuple(model_ids),
        proportions=mixture_proportions(crit, pseudo_count=pseudo_count),
        patient_ids=tuple(patient_ids),
        patient_prior=per_patient,
        folds=folds,
        n_folds=n_folds,
        pseudo_count=pseudo_count,
    )
