"""Shared helpers: simulated datasets of the evaluation tests."""

from __future__ import annotations

import dataclasses

import numpy as np

from imatinib_tdm.evaluation import simulate_dataset
from imatinib_tdm.pk import EventTable
from imatinib_tdm.pk.library import get_model

# troughs (23-24 h after the dose) on days 15, 30 and 45 of 400 mg daily: three occasions
DESIGN = {
    "dose_mg": 400.0,
    "interval_h": 24.0,
    "n_doses": 60,
    "sample_times_h": [24 * 14 + 23, 24 * 29 + 23.5, 24 * 44 + 23],
}


def simulated(model_id: str, n: int, seed: int, prefix: str = "") -> EventTable:
    """``n`` patients of 70 kg simulated from a library model on :data:`DESIGN`."""
    return simulate_dataset(
        get_model(model_id),
        n_patients=n,
        covariates={"weight_kg": 70.0},
        seed=seed,
        id_prefix=prefix,
        **DESIGN,  # type: ignore[arg-type]
    )


def stack(a: EventTable, b: EventTable) -> EventTable:
    """Two tables of the same design as one (patients of ``a`` then ``b``)."""
    fields = {}
    for f in dataclasses.fields(EventTable):
        if f.name == "ids":
            fields["ids"] = a.ids + b.ids
        elif f.name == "covariates":
            fields["covariates"] = {
                k: np.concatenate([a.covariates[k], b.covariates[k]]) for k in a.covariates
            }
        elif f.name == "source":
            fields["source"] = "mixed"
        else:
            fields[f.name] = np.concatenate([getattr(a, f.name), getattr(b, f.name)])
    return EventTable(**fields)
