"""Value types shared by the PK engine: model structure, individual parameters, dose histories.

Conventions (used everywhere inside ``pk``):

* time in hours (float) from a documented origin, usually the first dose (t = 0);
* amounts in mg, volumes in L, clearances in L/h, rates in 1/h;
* concentrations inside the engine in mg/L (= ug/mL); conversion to ng/mL happens at the edges.

Arrays are batch-first: ``n_patients`` rows. A single patient is the batch with ``n_patients = 1``.
This module imports nothing from the rest of the package but :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import CaseError, ModelDefinitionError

__all__ = [
    "Absorption",
    "DoseHistory",
    "PKParameters",
    "Structure",
]

FloatArray = NDArray[np.float64]


class Absorption(enum.Enum):
    """How an oral dose reaches the central compartment."""

    FIRST_ORDER = "first_order"
    """Dose into a depot, first-order absorption with rate constant ``ka_per_h``."""
    ZERO_ORDER = "zero_order"
    """Constant-rate input into the central compartment over ``d1_h`` hours."""
    TRANSIT = "transit"
    """Savic transit chain (``n_transit`` compartments at ``ktr_per_h``) into a depot, then ka.

    The dose enters the first of ``n_transit + 1`` compartments in series, each emptying at
    ``ktr_per_h``; the last one feeds the depot. The depot input rate for a dose D is
    ``F·D·ktr·(ktr·t)^n·exp(-ktr·t)/Γ(n+1)`` (Savic et al., J Pharmacokinet Pharmacodyn
    2007;34:711-726, doi:10.1007/s10928-007-9066-0), exact for integer ``n`` and the usual
    continuous extension for non-integer ``n``. Mean transit time MTT = (n + 1)/ktr.
    """


@dataclass(frozen=True)
class Structure:
    """Structural PK model: number of disposition compartments and absorption type."""

    n_compartments: int
    absorption: Absorption
    has_lag: bool = False

    def __post_init__(self) -> None:
        if self.n_compartments not in (1, 2):
            raise ModelDefinitionError(
                f"n_compartments must be 1 or 2, got {self.n_compartments!r}"
            )
        if self.absorption is Absorption.TRANSIT and self.has_lag:
            raise ModelDefinitionError("a transit-absorption model cannot also have a lag time")

    @property
    def required_parameters(self) -> tuple[str, ...]:
        """Names of the :class:`PKParameters` fields this structure needs (others must be None)."""
        names = ["cl_l_per_h", "v_l", "bioavailability_frac"]
        if self.n_compartments == 2:
            names += ["q_l_per_h", "v2_l"]
        if self.absorption is Absorption.FIRST_ORDER:
            names += ["ka_per_h"]
        elif self.absorption is Absorption.ZERO_ORDER:
            names += ["d1_h"]
        else:
            names += ["ka_per_h", "ktr_per_h", "n_transit"]
        if self.has_lag:
            names += ["tlag_h"]
        return tuple(names)


_PER_DOSE_ALLOWED = ("bioavailability_frac", "ka_per_h")


@dataclass(frozen=True)
class PKParameters:
    """Individual PK parameters for ``n_patients`` individuals.

    Every field is an array of shape ``(n_patients,)`` (or ``None`` when the structure does not use
    it). ``bioavailability_frac`` and ``ka_per_h`` may also have shape ``(n_patients, n_doses)``:
    one value per dose, evaluated at the dose time (used by models whose absorption changes with
    time on therapy, e.g. Eechoute 2012). All values are apparent (CL/F, V/F) when the model was
    built from oral data only; ``bioavailability_frac`` is then 1 (or a relative F).

    Use :meth:`create` to build one from scalars or array-likes: it checks shapes and positivity.
    """

    cl_l_per_h: FloatArray
    v_l: FloatArray
    bioavailability_frac: FloatArray
    ka_per_h: FloatArray | None = None
    q_l_per_h: FloatArray | None = None
    v2_l: FloatArray | None = None
    d1_h: FloatArray | None = None
    tlag_h: FloatArray | None = None
    ktr_per_h: FloatArray | None = None
    n_transit: FloatArray | None = None

    @classmethod
    def create(
        cls,
        *,
        cl_l_per_h: ArrayLike,
        v_l: ArrayLike,
        bioavailability_frac: ArrayLike = 1.0,
        ka_per_h: ArrayLike | None = None,
        q_l_per_h: ArrayLike | None = None,
        v2_l: ArrayLike | None = None,
        d1_h: ArrayLike | None = None,
        tlag_h: ArrayLike | None = None,
        ktr_per_h: ArrayLike | None = None,
        n_transit: ArrayLike | None = None,
    ) -> PKParameters:
        """Validate and broadcast parameters to a common ``n_patients``.

        Raises
        ------
        ModelDefinitionError
            A parameter is not finite, not positive (``tlag_h`` and ``n_transit`` may be 0), or
            the shapes cannot be broadcast.
        """
        raw = {
            "cl_l_per_h": cl_l_per_h,
            "v_l": v_l,
            "bioavailability_frac": bioavailability_frac,
            "ka_per_h": ka_per_h,
            "q_l_per_h": q_l_per_h,
            "v2_l": v2_l,
            "d1_h": d1_h,
            "tlag_h": tlag_h,
            "ktr_per_h": ktr_per_h,
            "n_transit": n_transit,
        }
        arrays: dict[str, FloatArray | None] = {}
        n_patients = 1
        for name, value in raw.items():
            if value is None:
                arrays[name] = None
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if arr.ndim > 2 or (arr.ndim == 2 and name not in _PER_DOSE_ALLOWED):
                raise ModelDefinitionError(
                    f"parameter {name} has shape {arr.shape}; expected (n_patients,)"
                    + (" or (n_patients, n_doses)" if name in _PER_DOSE_ALLOWED else "")
                )
            if not np.all(np.isfinite(arr)):
                raise ModelDefinitionError(f"parameter {name} contains a non-finite value")
            lower_ok = arr >= 0 if name in ("tlag_h", "n_transit") else arr > 0
            if not np.all(lower_ok):
                bound = ">= 0" if name in ("tlag_h", "n_transit") else "> 0"
                raise ModelDefinitionError(
                    f"parameter {name} must be {bound}; got min {float(arr.min())!r}"
                )
            if arr.shape[0] != 1:
                if n_patients not in (1, arr.shape[0]):
                    raise ModelDefinitionError(
                        f"parameter {name} has {arr.shape[0]} rows but another parameter has "
                        f"{n_patients}"
                    )
                n_patients = arr.shape[0]
            arrays[name] = arr
        for name, value_array in arrays.items():
            if value_array is not None and value_array.shape[0] == 1 and n_patients > 1:
                shape = (n_patients, *value_array.shape[1:])
                arrays[name] = np.broadcast_to(value_array, shape).copy()
        return cls(**arrays)  # type: ignore[arg-type]

    @property
    def n_patients(self) -> int:
        """Number of individuals (rows)."""
        return int(self.cl_l_per_h.shape[0])

    def has_per_dose_values(self) -> bool:
        """True when F or ka vary by dose (2-D arrays)."""
        return any(
            getattr(self, name) is not None and getattr(self, name).ndim == 2
            for name in _PER_DOSE_ALLOWED
        )

    def check_structure(self, structure: Structure) -> None:
        """Raise ModelDefinitionError when a parameter the structure needs is missing."""
        missing = [n for n in structure.required_parameters if getattr(self, n) is None]
        if missing:
            raise ModelDefinitionError(
                f"structure {structure} needs parameters {', '.join(missing)}"
            )

    def take(self, rows: NDArray[np.intp] | slice) -> PKParameters:
        """The parameters of a subset of individuals (for chunking a large batch)."""
        values = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[rows])
            for f in fields(self)
        }
        return PKParameters(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DoseHistory:
    """Oral doses on a time grid shared by all individuals of a batch.

    ``times_h`` has shape ``(n_doses,)``, sorted ascending, hours from the time origin.
    ``amounts_mg`` has shape ``(n_doses,)`` (same for everybody) or ``(n_patients, n_doses)``;
    a zero amount is a missed dose. Different individual histories share one grid by padding
    with zero amounts.
    """

    times_h: FloatArray
    amounts_mg: FloatArray
    _sorted: bool = field(default=True, repr=False)

    @classmethod
    def create(cls, times_h: ArrayLike, amounts_mg: ArrayLike) -> DoseHistory:
        """Validate a dose history; doses are sorted by time (rows of amounts follow).

        Raises
        ------
        CaseError
            Negative or non-finite amounts or times, or mismatched shapes.
        """
        t = np.atleast_1d(np.asarray(times_h, dtype=np.float64))
        a = np.asarray(amounts_mg, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(t.shape, float(a))
        if t.ndim != 1:
            raise CaseError(f"dose times must be 1-D, got shape {t.shape}", field="doses")
        if a.shape[-1] != t.shape[0] or a.ndim > 2:
            raise CaseError(
                f"dose amounts shape {a.shape} does not match {t.shape[0]} dose times",
                field="doses",
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(a))):
            raise CaseError("dose times and amounts must be finite numbers", field="doses")
        if np.any(a < 0):
            raise CaseError("a dose amount is negative; amounts are in mg and >= 0", field="doses")
        order = np.argsort(t, kind="stable")
        return cls(times_h=t[order], amounts_mg=a[..., order])

    @classmethod
    def regular(
        cls, *, amount_mg: float, interval_h: float, n_doses: int, start_h: float = 0.0
    ) -> DoseHistory:
        """``n_doses`` equal doses every ``interval_h`` hours starting at ``start_h``."""
        if interval_h <= 0:
            raise CaseError(f"interval_h must be > 0 h, got {interval_h}", field="interval_h")
        if n_doses < 1:
            raise CaseError(f"n_doses must be >= 1, got {n_doses}", field="n_doses")
        times = start_h + interval_h * np.arange(n_doses, dtype=np.float64)
        return cls.create(times, np.full(n_doses, float(amount_mg)))

    @property
    def n_doses(self) -> int:
        """Number of dose events on the grid."""
        return int(self.times_h.shape[0])

    def amounts_for(self, n_patients: int) -> FloatArray:
        """Amounts broadcast to shape ``(n_patients, n_doses)``."""
        return np.broadcast_to(self.amounts_mg, (n_patients, self.n_doses))
