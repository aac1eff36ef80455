"""Tests of imatinib_tdm.store (a package, so that test module names may repeat elsewhere)."""
