"""Plausibility limits of a case file, with their sources.

Hard limits (violations are validation errors) catch typing and unit mistakes; soft limits
(violations are :class:`~imatinib_tdm.case.PlausibilityWarning`) flag values that are allowed but
look wrong. Neither is a clinical recommendation.
"""

from __future__ import annotations

__all__ = [
    "EARLIEST_YEAR",
    "HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML",
    "LABELLED_MAX_DAILY_DOSE_MG",
    "LATEST_YEAR",
    "MAX_ADMINISTRATIONS",
    "MAX_COMEDICATIONS",
    "MAX_CONCENTRATION_NG_PER_ML",
    "MAX_COUNT",
    "MAX_DOSE_ENTRIES",
    "MAX_GENOTYPES",
    "MAX_HOURS",
    "MAX_INTERVAL_H",
    "MAX_LABEL_CHARS",
    "MAX_LLOQ_NG_PER_ML",
    "MAX_MISSED_DOSES",
    "MAX_NOTES_CHARS",
    "MAX_SAMPLES",
    "MAX_SINGLE_ADMINISTRATION_MG",
    "MAX_TEXT_CHARS",
    "MIN_INTERVAL_H",
    "MIN_LLOQ_NG_PER_ML",
    "MIN_SINGLE_ADMINISTRATION_MG",
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
# Smallest single administration accepted: the smallest imatinib tablet is 100 mg and paediatric
# doses (340 mg/m^2) are tens of mg; below 1 mg is a unit mistake (ug typed as mg), and amounts
# like 1e-300 mg made the engine's weights underflow to NaN.
MIN_SINGLE_ADMINISTRATION_MG = 1.0

# --- Size limits (software guards; a real patient never reaches them) ---------------------------
# They bound the work one request can cause (the checks and the engine grow with the number of
# entries): measured after the time-origin cache, 5,000 single-dose entries with 200 samples
# interpret in 2.3 s on one core, 50,000 administrations with 200 samples in 4.4 s.
# Dose entries: one entry per administration, typed one by one for 13 years of once-daily dosing.
MAX_DOSE_ENTRIES = 5_000
# Administrations after expanding every entry's count: 68 years of twice-daily dosing.
MAX_ADMINISTRATIONS = 50_000
# Missed administrations listed: a tenth of MAX_ADMINISTRATIONS.
MAX_MISSED_DOSES = 5_000
# Blood samples: one a month for 16 years (TDM of imatinib takes a few a year). The engine's
# sampling checks cost samples x administrations: 1,000 samples with 50,000 administrations took
# 22 s to interpret, 200 take 4.4 s.
MAX_SAMPLES = 200
# Co-medications, and genotype results of the patient.
MAX_COMEDICATIONS = 200
MAX_GENOTYPES = 100
# Text: identifiers and short fields (ids, names, assay, diagnosis, genotype keys and results),
# and the free-text notes (about five printed pages; 1 MB of notes made issuing a report take
# 50 s).
MAX_LABEL_CHARS = 128
MAX_TEXT_CHARS = 500
MAX_NOTES_CHARS = 10_000

# --- Range limits of times and concentrations ---------------------------------------------------
# Date-times: calendar years accepted (imatinib was approved in 2001; earlier dates are typing
# mistakes, not history). Hours since the first dose: at most 100 years either way, and every
# time of a case within 100 years of its first dose.
EARLIEST_YEAR = 1980
LATEST_YEAR = 2100
MAX_HOURS = 100 * 8766.0
# Largest concentration accepted (after conversion to ng/mL): 1 g/L, about 250 times the highest
# published group-mean trough; anything above is a unit or typing error.
MAX_CONCENTRATION_NG_PER_ML = 1_000_000.0
# LLOQ range (after conversion to ng/mL): published assays quantify from ~1-10 ng/mL; an LLOQ
# below 0.001 ng/mL or above 100 ug/mL is a unit error.
MIN_LLOQ_NG_PER_ML = 0.001
MAX_LLOQ_NG_PER_ML = 100_000.0

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
