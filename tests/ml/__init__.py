"""Tests of imatinib_tdm.ml (a package, so that test module names may repeat elsewhere)."""
