"""Dataset formats in and out of the package: NONMEM-format datasets.

* :func:`read_nonmem_dataset` / :func:`load_nonmem_dataset` — a NONMEM dataset (ID, TIME, EVID,
  AMT, CMT, II, ADDL, SS, RATE, DV, MDV, OCC, BLQ/LLOQ, covariates) into an
  :class:`~imatinib_tdm.pk._events.EventTable` (concentrations in mg/L); the second also returns
  the warnings found while reading.
* :func:`write_nonmem_dataset`, :func:`table_to_nonmem_rows` — the inverse.
* :func:`case_to_nonmem_rows` — a case file as NONMEM rows; :func:`write_cases_nonmem_dataset`
  (:func:`cases_to_nonmem_rows`) — several cases as one dataset (subjects numbered 1..n).
* :func:`read_long_csv` (:class:`LongCsvColumns`) — a long CSV of TDM records (patient,
  date-times, dose, concentration, covariates, explicit units) into the same event table.

Semantics and conventions: ``docs/nonmem-datasets.md``. Imports case, units, errors and the pk
value types and boundary (``pk._events``, ``pk.inputs``); never tdm, report, store or service.
Modules: ``_parse`` (text), ``_rows`` (row semantics and validation), ``_records`` (time-varying
covariate conventions), ``_table`` (padding, arrays), ``_nonmem`` (reading), ``_write``.
"""

from imatinib_tdm.io._long_csv import LongCsvColumns, read_long_csv
from imatinib_tdm.io._nonmem import (
    DEFAULT_CMT_ROUTES,
    DatasetWarning,
    NonmemDataset,
    load_nonmem_dataset,
    read_nonmem_dataset,
)
from imatinib_tdm.io._write import (
    case_to_nonmem_rows,
    cases_to_nonmem_rows,
    table_to_nonmem_rows,
    write_cases_nonmem_dataset,
    write_nonmem_dataset,
)

__all__ = [
    "DEFAULT_CMT_ROUTES",
    "DatasetWarning",
    "LongCsvColumns",
    "NonmemDataset",
    "case_to_nonmem_rows",
    "cases_to_nonmem_rows",
    "load_nonmem_dataset",
    "read_long_csv",
    "read_nonmem_dataset",
    "table_to_nonmem_rows",
    "write_cases_nonmem_dataset",
    "write_nonmem_dataset",
]
