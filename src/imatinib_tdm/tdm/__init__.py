"""TDM layer: interpretation of a case with a popPK model (imports pk and case, never the web).

So far: a priori (population) prediction of a case's samples and steady-state trough.
"""

from imatinib_tdm.tdm._a_priori import (
    NOTICE,
    APrioriPrediction,
    SamplePrediction,
    TroughPrediction,
    predict_a_priori,
)

__all__ = [
    "NOTICE",
    "APrioriPrediction",
    "SamplePrediction",
    "TroughPrediction",
    "predict_a_priori",
]
