"""Plausibility limits of a case file, with their sources.

Hard limits (violations are validation errors) catch typing and unit mistakes; soft limits
(violations are :class:`~imatinib_tdm.case.PlausibilityWarning`) flag values that are allowed but
look wrong. Neither is a clinical recommendation.
"""

from __future__ import annotations

__all__ = [
    "HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML",
    "LABELLED_MAX_DAILY_DOSE_MG",
    "MAX_COUNT",
    "MAX_INTERVAL_H",
    "MAX_SINGLE_ADMINISTRATION_MG",
    "MIN_INTERVAL_H",
    "SUSPECT_HIGH_FACTOR",
    "SUSPECT_LOW_NG_PER_ML",
]

# --- Hard limits (violations are errors) --------------------------------------------------------

# Largest single administration accepted. The highest labelled imatinib dose is 800 mg/day, given
# as 400 mg twice daily (Glivec EU SmPC, Novartis, copy at medhub.co.il; Lexicomp/UpToDate imatinib
# drug information, 2015; Gleevec US label, FDA revision 2020, rxreasoner monograph); the Glivec EU
# SmPC states linear pharmacokinetics over 25-1000 mg. A single administration above 1000 mg is
# therefore not a plausible imatinib dose and almost always a typing or unit error.
MAX_SINGLE_ADMINISTRATION_MG = 1000.0
# Dosing interval range: software guard (labelled schedules are 12 h and 24 h: Gleevec US label,
# FDA revision 2020); anything outside 4-168 h (4 hours to once weekly) is a data-entry error for
# an oral daily drug.
MIN_INTERVAL_H = 4.0
MAX_INTERVAL_H = 168.0
# Software guard against runaway expansion (~55 years of twice-daily dosing).
MAX_COUNT = 40_000

# --- Soft limits (violations are plausibility warnings, see Case.plausibility_warnings) ---------

# Highest labelled daily dose (800 mg/day: Glivec EU SmPC; Lexicomp/UpToDate 2015); higher daily
# totals occur (patients on enzyme-inducing antiepileptics tolerated up to 1200 mg/day: Wen PY et
# al., Clin Cancer Res 2006, NABTC 99-08) but usually mean overlapping regimens in the history.
LABELLED_MAX_DAILY_DOSE_MG = 800.0
# Lowest lower limit of quantification among published imatinib assays: UPLC-MS/MS linear over
# 10-2000 ng/mL (Hebei UPLC-MS/MS method, 25 GIST patients, Authorea preprint). A *quantified*
# result below it is most likely a value in ug/mL, mg/L or umol/L entered with unit ng/mL (typical
# troughs ~1000 ng/mL: IRIS 979 +- 530 ng/mL, Blood 2008;111(8):4022, commonly cited as Larson RA
# et al.; TOPS medians 1040-2690 ng/mL, Guilhot F et al., Haematologica 2012;97(5):731-738,
# doi:10.3324/haematol.2011.045666, PMID 22315495).
SUSPECT_LOW_NG_PER_ML = 10.0
# Highest published group-mean trough: 3844 +- 987 ng/mL at 800 mg/day (Chinese GIST cohort, 307
# patients, 2020, PMID 32293723). Ten times that (a software margin that leaves room for peaks,
# 2.6 +- 0.8 ug/mL at 400 mg: Peng B et al., clinical pharmacokinetics review, Clin Pharmacokinet
# 2005, and overdoses) flags the 1000-fold ng/mL <-> ug/mL mix-up (820 ug/mL).
HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML = 3844.0
SUSPECT_HIGH_FACTOR = 10.0
