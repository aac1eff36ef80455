"""The model used when the user names none, with the reason (stated in every output).

Issue 7 evaluates models against a centre's own data; until a centre has chosen, the default is:

* adults: ``widmer2006_covariate`` — Widmer 2006 (59 CML/GIST patients, 321 samples) as
  implemented in Tucuxi (Gotta 2012), the model of a TDM service in routine use; covariates
  weight, age, sex and diagnosis (``docs/models.md``);
* patients younger than the adult age limit of ``data/dosing.yaml``: ``petain2008`` — the library
  model whose population spans children and adults (67 patients aged 2-84 y, 33 of them 2-22 y,
  with weight, AGP and albumin as covariates). Published models predict poorly in children
  (Yang 2025), so the choice is stated as an assumption, not a recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass

from imatinib_tdm.case import Case
from imatinib_tdm.tdm._knowledge import load_dosing_rules

__all__ = ["ADULT_DEFAULT_MODEL", "PAEDIATRIC_DEFAULT_MODEL", "DefaultModel", "default_model"]

ADULT_DEFAULT_MODEL = "widmer2006_covariate"
PAEDIATRIC_DEFAULT_MODEL = "petain2008"


@dataclass(frozen=True)
class DefaultModel:
    """A library model id and why it was chosen."""

    model_id: str
    reason: str


def default_model(case: Case) -> DefaultModel:
    """The default library model for ``case`` (see the module notes).

    Examples
    --------
    >>> default_model(load_demo_case("demo-001")).model_id
    'widmer2006_covariate'
    """
    adult_age = load_dosing_rules().adult_min_age.value
    age = case.patient.age_years
    if age is not None and float(age) < adult_age:
        return DefaultModel(
            PAEDIATRIC_DEFAULT_MODEL,
            f"no model named; age {float(age):g} y is below the adult limit of {adult_age:g} y: "
            f"{PAEDIATRIC_DEFAULT_MODEL}, whose population includes children (2-22 y). Published "
            "models predict poorly in children: check the model against your own data.",
        )
    reason = f"no model named: {ADULT_DEFAULT_MODEL} (Widmer 2006 as used in Tucuxi) for adults"
    if age is None:
        reason += "; age not given, so an adult is assumed"
    return DefaultModel(ADULT_DEFAULT_MODEL, reason + ".")
