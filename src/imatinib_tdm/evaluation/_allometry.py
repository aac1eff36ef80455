"""Optional allometric scaling of adult models for children.

The standard allometric convention of paediatric pharmacokinetics: clearances scale with
(weight / 70 kg)^0.75 and volumes with (weight / 70 kg)^1. Yang 2025 (Target Oncol,
doi:10.1007/s11523-025-01172-2) applied "standard allometric scaling for adult-only models" when
evaluating published imatinib models on paediatric data (reference KB
``imatinib_clinical_kb.md`` §2f); the exponents and reference weight are the convention, not
numbers from that paper.

Only models without a weight covariate are scaled (a model with weight already describes its
effect, e.g. Menon-Andersen 2009 with fixed allometry). The scaled model is a new model built
from the original's specification with the factor appended to CL/F, Q/F, V/F and V2/F, and
``weight_kg`` as a required covariate; its id gets the suffix ``_allometric``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk import PopPKModel, create_model
from imatinib_tdm.pk._custom import parse_model_text

__all__ = [
    "ALLOMETRIC_CLEARANCE_EXPONENT",
    "ALLOMETRIC_REFERENCE_WEIGHT_KG",
    "ALLOMETRIC_VOLUME_EXPONENT",
    "allometric_model",
]

ALLOMETRIC_CLEARANCE_EXPONENT = 0.75
ALLOMETRIC_VOLUME_EXPONENT = 1.0
ALLOMETRIC_REFERENCE_WEIGHT_KG = 70.0

_CLEARANCES = ("cl_l_per_h", "q_l_per_h")
_VOLUMES = ("v_l", "v2_l")


def _spec(model: PopPKModel) -> dict[str, Any]:
    if model.source_path is None:
        raise ModelDefinitionError(
            f"model {model.id!r} has no source file; allometric scaling rebuilds the model from it",
            model_id=model.id,
        )
    path = Path(model.source_path)
    data = parse_model_text(path.read_text(encoding="utf-8"), suffix=path.suffix, name=path.name)
    return copy.deepcopy(dict(data))


def allometric_model(model: PopPKModel) -> PopPKModel:
    """``model`` with allometric weight scaling for children, or ``model`` itself.

    Parameters
    ----------
    model : PopPKModel

    Returns
    -------
    PopPKModel
        Unchanged when the model already has ``weight_kg`` as a covariate; otherwise a model
        with id ``<id>_allometric``: CL/F and Q/F × (weight_kg/70)^0.75, V/F and V2/F ×
        (weight_kg/70)^1 (weight in kg). At 70 kg it predicts exactly as the original.

    Raises
    ------
    ModelDefinitionError
        The model has no source file to rebuild from.
    """
    if "weight_kg" in model.covariate_names:
        return model
    spec = _spec(model)
    ratio = f"(weight_kg / {ALLOMETRIC_REFERENCE_WEIGHT_KG:g})"
    parameters = dict(spec["parameters"])
    for name in _CLEARANCES + _VOLUMES:
        if name in parameters:
            exponent = (
                ALLOMETRIC_CLEARANCE_EXPONENT if name in _CLEARANCES else ALLOMETRIC_VOLUME_EXPONENT
            )
            parameters[name] = f"({parameters[name]}) * {ratio} ** {exponent:g}"
    spec["parameters"] = parameters
    spec["id"] = f"{model.id}_allometric"
    spec["name"] = f"{model.name} (allometric weight scaling for children)"
    spec["covariates"] = [
        *list(spec.get("covariates") or []),
        {
            "name": "weight_kg",
            "unit": "kg",
            "reference": ALLOMETRIC_REFERENCE_WEIGHT_KG,
            "description": "body weight (allometric scaling added for paediatric evaluation)",
            "domain": {"min": None, "max": None, "kind": "soft"},
            "source": "standard allometric convention (exponent 0.75 on clearances, 1 on "
            "volumes, 70 kg reference); added by imatinib_tdm.evaluation, not in the source",
        },
    ]
    # the applicability entry for weight (if any) would duplicate the new covariate
    spec["applicability"] = [
        entry for entry in (spec.get("applicability") or []) if entry.get("name") != "weight_kg"
    ]
    return create_model(spec, source_path=model.source_path, builtin=False)
