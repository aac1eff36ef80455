"""Each library model's simulated day-29 trough vs the published cohort summaries (docs table).

Run: ``.venv/bin/python bench/trough_table.py`` — prints the Markdown table pasted into
``docs/evaluation.md``.

Published figures (reference KB ``../shared/reference/imatinib_clinical_kb.md``, "Summary-level
data usable as external checks"):

* IRIS CML, 351 patients, 400 mg daily, day-29 trough mean 979 ± 530 ng/mL (CV 54.1%)
  (Blood 111(8):4022, commonly cited as Larson et al. 2008) [R4];
* TOPS CML, day-29 trough medians 1040 / 1200 / 1935 / 2690 ng/mL at 300 / 400 / 600 / 800 mg
  (Guilhot 2012, Haematologica 97(5):731-738, doi:10.3324/haematol.2011.045666) [R43].

Simulation: 5,000 virtual patients per model and dose with the model's IIV, IOV and residual
error (an observed trough includes the assay/residual error), doses every 24 h from time 0,
trough at 672 h (day 29, just before the 29th dose). Covariates: each model's own reference
values (the values its typical parameters are reported at), ``occasion_day29`` = 1 (day 29),
``indication_gist`` = 0 (CML), ``sex_male`` at the model's reference (Widmer covariate model:
0.5, its documented midpoint). The TOPS 800 mg median is compared with 800 mg once daily and,
separately, 400 mg every 12 h (trough 12 h after the last dose): the KB does not state how the
800 mg/day of TOPS was given, so both are shown.
"""

from __future__ import annotations

import numpy as np

from imatinib_tdm.errors import TdmError
from imatinib_tdm.pk import DoseHistory, PopPKModel, simulate_population
from imatinib_tdm.pk.library import list_models

N = 5000
SEED = 29
TROUGH_TIME_H = 28 * 24.0
FIXED = {"occasion_day29": 1.0, "indication_gist": 0.0}
IRIS_MEAN, IRIS_SD = 979.0, 530.0
TOPS = {300: 1040.0, 400: 1200.0, 600: 1935.0, 800: 2690.0}


def _covariates(model: PopPKModel) -> dict[str, float]:
    values = {c.name: float(c.reference) for c in model.covariates if c.reference is not None}
    values.update({k: v for k, v in FIXED.items() if k in model.covariate_names})
    return values


def troughs_ng_per_ml(model: PopPKModel, dose_mg: float, interval_h: float) -> np.ndarray:
    """Simulated day-29 troughs (ng/mL) of N patients at the model's reference covariates."""
    times = np.arange(0.0, TROUGH_TIME_H, interval_h)
    doses = DoseHistory(times_h=times, amounts_mg=np.full(times.size, dose_mg))
    sim = simulate_population(
        model, _covariates(model), doses, [TROUGH_TIME_H], n_individuals=N, seed=SEED
    )
    return np.asarray(sim.concentrations_mg_per_l[:, 0] * 1000.0)


def main() -> None:
    print(
        "| model | 400 mg mean ± SD | 400 mg median (5th–95th) | mean / IRIS 979 | "
        "300 mg median | 600 mg median | 800 mg q24h median | 400 mg q12h median |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        "| **IRIS** (n = 351) [R4] | **979 ± 530** | – | 1.00 | – | – | – | – |\n"
        "| **TOPS** medians [R43] | – | **1200** | – | **1040** | **1935** | **2690** (800 mg/day) "
        "| |"
    )
    for model in list_models():
        try:
            t400 = troughs_ng_per_ml(model, 400.0, 24.0)
            medians = {
                d: float(np.median(troughs_ng_per_ml(model, d, 24.0))) for d in (300, 600, 800)
            }
            bid = float(np.median(troughs_ng_per_ml(model, 400.0, 12.0)))
        except TdmError as exc:
            print(f"| `{model.id}` | not simulated: {exc} | | | | | | |")
            continue
        lo, med, hi = np.percentile(t400, [5, 50, 95])
        print(
            f"| `{model.id}` | {t400.mean():.0f} ± {t400.std(ddof=1):.0f} | "
            f"{med:.0f} ({lo:.0f}–{hi:.0f}) | {t400.mean() / IRIS_MEAN:.2f} | "
            f"{medians[300]:.0f} | {medians[600]:.0f} | {medians[800]:.0f} | {bid:.0f} |"
        )


if __name__ == "__main__":
    main()
