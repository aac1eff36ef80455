"""The one-compartment first-order kernel with reused temporaries is bit-identical to the plain
expressions it replaced (tolerance 0), for several trial points, doses and times."""

from __future__ import annotations

import numpy as np
import pytest

from imatinib_tdm.pk import Absorption
from imatinib_tdm.pk._dose_matrix import predict_oral_one_compartment


def _plain(cl, v, f, ka, tlag, amounts, since):  # type: ignore[no-untyped-def]
    """The kernel as written before (allocating every temporary)."""
    k10 = np.asarray(cl / v)
    if tlag is not None:
        s = since - np.asarray(tlag)[..., None, None]
        s = np.where(s > 0.0, s, 0.0)
    else:
        s = np.where(since > 0.0, since, 0.0)
    given = np.asarray(f)[..., None, None] * amounts
    neg_gap = -np.abs(ka - k10)[..., None, None]
    x = neg_gap * s
    ratio = np.ones(x.shape)
    np.divide(np.expm1(x), x, out=ratio, where=x < 0.0)
    central = np.exp(-np.minimum(ka, k10)[..., None, None] * s)
    central *= s
    central *= ratio
    central = given * ka[..., None, None] * central
    return central.sum(axis=-2) / np.asarray(v)[..., None]


@pytest.mark.parametrize("n_times", [1, 3])
@pytest.mark.parametrize("with_lag", [False, True])
def test_first_order_kernel_bit_identical(n_times: int, with_lag: bool) -> None:
    rng = np.random.default_rng(5)
    m, n_points, n_doses = 3, 40, 12
    cl = rng.uniform(5, 30, (m, n_points))
    v = rng.uniform(100, 500, (m, n_points))
    f = rng.uniform(0.5, 1.0, (m, n_points))
    ka = rng.uniform(0.01, 2.0, (m, n_points))
    ka[0, 0] = cl[0, 0] / v[0, 0]  # coincident rates: the limit branch
    tlag = rng.uniform(0, 1, (m, n_points)) if with_lag else None
    amounts = rng.choice([0.0, 300.0, 400.0], (m, 1, n_doses, 1))
    since = rng.uniform(-30, 300, (m, 1, n_doses, n_times))
    fast = predict_oral_one_compartment(
        Absorption.FIRST_ORDER, cl, v, f, ka, None, tlag, amounts, since
    )
    np.testing.assert_array_equal(fast, _plain(cl, v, f, ka, tlag, amounts, since))


def test_first_order_kernel_rates_shared_by_points() -> None:
    # parameters without a per-point axis broadcast against the doses only
    rng = np.random.default_rng(6)
    cl, v, f, ka = (rng.uniform(0.5, 30, (2, 1)) for _ in range(4))
    amounts = np.full((2, 1, 5, 1), 400.0)
    since = rng.uniform(0, 100, (2, 1, 5, 2))
    fast = predict_oral_one_compartment(
        Absorption.FIRST_ORDER, cl, v, f, ka, None, None, amounts, since
    )
    np.testing.assert_array_equal(fast, _plain(cl, v, f, ka, None, amounts, since))
