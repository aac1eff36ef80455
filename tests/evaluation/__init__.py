"""Tests of imatinib_tdm.evaluation (a package, so that test module names may repeat elsewhere)."""
