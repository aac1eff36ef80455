"""MAP estimation, part 3: the optimiser.

Owns the finite-difference design (value, gradient and Hessian of the objective by central
differences, all trial points of all individuals in one batched call), the Newton direction
(eigenvalue floor, step capped in prior standard deviations) and the damped Newton iteration
with its backtracking line search (:func:`_minimise`). Re-exported by
:mod:`imatinib_tdm.pk._map`.

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.pk._map_objective import _objective_grouped, _prepared, objective
from imatinib_tdm.pk._map_problem import FloatArray, MapProblem

_FD_STEP = 1e-4
_EIGEN_FLOOR = 1e-3
_MAX_STEP_SD = 2.0
_DECREMENT_FLOOR = 1e-12


def _fd_points(k: int, h: float) -> FloatArray:
    """Offsets for value, gradient and Hessian by central differences: 1 + 2k + k(k-1) points."""
    points = [np.zeros(k)]
    for i in range(k):
        for sign in (1.0, -1.0):
            e = np.zeros(k)
            e[i] = sign * h
            points.append(e)
    for i in range(k):
        for j in range(i + 1, k):
            for sign in (1.0, -1.0):
                e = np.zeros(k)
                e[i] = e[j] = sign * h
                points.append(e)
    return np.array(points)


_FD_DESIGNS: dict[tuple[int, float], tuple[FloatArray, NDArray[np.intp], NDArray[np.intp]]] = {}


def _fd_design(k: int, h: float) -> tuple[FloatArray, NDArray[np.intp], NDArray[np.intp]]:
    """:func:`_fd_points` and the (i, j) index of each pair of effects (i < j), cached."""
    key = (k, h)
    design = _FD_DESIGNS.get(key)
    if design is None:
        upper_i, upper_j = np.triu_indices(k, 1)
        design = (_fd_points(k, h), upper_i.astype(np.intp), upper_j.astype(np.intp))
        _FD_DESIGNS[key] = design
    return design


def _derivatives(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp], h: float = _FD_STEP
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """OFV, gradient and Hessian at each row, by central differences in one batched call."""
    n, k = effects.shape
    offsets, pair_i, pair_j = _fd_design(k, h)
    values = _objective_grouped(problem, effects[:, None, :] + offsets[None, :, :], rows)
    f0 = values[:, 0]
    plus = values[:, 1 : 1 + 2 * k : 2]
    minus = values[:, 2 : 2 + 2 * k : 2]
    grad = (plus - minus) / (2.0 * h)
    hess = np.zeros((n, k, k))
    diag = (plus + minus - 2.0 * f0[:, None]) / (h * h)
    diagonal = np.arange(k)
    hess[:, diagonal, diagonal] = diag
    if pair_i.size:
        fpp = values[:, 1 + 2 * k :: 2]
        fmm = values[:, 2 + 2 * k :: 2]
        # f(+i+j) + f(-i-j) = 2 f0 + h²(H_ii + 2 H_ij + H_jj)
        value = (fpp + fmm - 2.0 * f0[:, None]) / (h * h) - (diag[:, pair_i] + diag[:, pair_j])
        hess[:, pair_i, pair_j] = hess[:, pair_j, pair_i] = 0.5 * value
    return f0, grad, hess


def _newton_direction(
    grad: FloatArray, hess: FloatArray, precision: FloatArray, prior_curvature: float
) -> FloatArray:
    """Newton direction on |H| (negative curvature turned into descent), floored and capped.

    The floor is a small fraction of the prior's curvature, and a step never exceeds
    ``_MAX_STEP_SD`` prior standard deviations (Mahalanobis), so that a poor start cannot jump to
    absurd random effects.
    """
    w, v = np.linalg.eigh(hess)
    w = np.maximum(np.abs(w), _EIGEN_FLOOR * prior_curvature)
    step = -np.einsum("nij,nj,nkj,nk->ni", v, 1.0 / w, v, grad)
    length = np.sqrt(np.einsum("ni,ij,nj->n", step, precision, step))
    factor = np.minimum(1.0, _MAX_STEP_SD / np.maximum(length, 1e-300))
    return np.asarray(step * factor[:, None], dtype=np.float64)


def _minimise(
    problem: MapProblem,
    start: FloatArray,
    rows: NDArray[np.intp],
    *,
    max_iterations: int,
    tolerance: float,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.int64], int, FloatArray]:
    """Damped Newton from each start; returns (x, ofv, converged, iterations, evaluations, H).

    Derivatives are evaluated at the full Newton step directly: when the step is accepted
    (Armijo condition) they serve the next iteration, so an accepted step costs one batched
    call. Rejected steps backtrack on the objective alone.

    The state of the starts still running is kept in compact arrays (``live`` holds their row
    numbers); a start leaves them, its final state written to the outputs, when it converges or
    can no longer descend.
    """
    x = start.copy()
    n, k = x.shape
    precision = problem.precision
    curvature = _prepared(problem).prior_curvature
    per_point = 1 + k + k * k
    f, g, h = _derivatives(problem, x, rows)
    evaluations = n * per_point
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    # a start where the model cannot predict an observation is not pursued
    start_ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1)
    if start_ok.all():
        live = np.arange(n)
        xa, fa, ga, ha, ra = x.copy(), f.copy(), g, h.copy(), rows
    else:
        live = np.flatnonzero(start_ok)
        xa, fa, ga, ha, ra = x[live], f[live], g[live], h[live], rows[live]
    for _ in range(max_iterations):
        if live.size == 0:
            break
        direction = _newton_direction(ga, ha, precision, curvature)
        # Newton decrement: the predicted decrease of the OFV; below the rounding level of the
        # OFV no step can be verified by the line search, so the point is the mode.
        decrement = -np.einsum("ni,ni->n", ga, direction)
        done = (np.max(np.abs(direction), axis=1) < tolerance) | (
            decrement < _DECREMENT_FLOOR * np.maximum(1.0, np.abs(fa))
        )
        if done.any():
            finished = live[done]
            converged[finished] = True
            x[finished], f[finished], h[finished] = xa[done], fa[done], ha[done]
            keep = ~done
            live, xa, fa, ga, ha, ra = live[keep], xa[keep], fa[keep], ga[keep], ha[keep], ra[keep]
            direction, decrement = direction[keep], decrement[keep]
            if live.size == 0:
                break
        iterations[live] += 1
        slope = -decrement
        trial = xa + direction
        ft, gt, ht = _derivatives(problem, trial, ra)
        evaluations += live.size * per_point
        finite = np.isfinite(ft) & np.all(np.isfinite(gt), axis=1)
        finite &= np.all(np.isfinite(ht), axis=(1, 2))
        good = finite & (ft <= fa + 1e-4 * slope)
        if good.all():
            xa, fa, ga, ha = trial, ft, gt, ht
            continue
        xa[good], fa[good], ga[good], ha[good] = trial[good], ft[good], gt[good], ht[good]
        bad = np.flatnonzero(~good)
        step = np.full(bad.size, 0.5)
        d_bad, s_bad = direction[bad], slope[bad]
        accepted = np.zeros(bad.size, dtype=bool)
        for _ in range(30):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            value = objective(
                problem, xa[bad[todo]] + step[todo, None] * d_bad[todo], ra[bad[todo]]
            )
            evaluations += todo.size
            fine = value <= fa[bad[todo]] + 1e-4 * step[todo] * s_bad[todo]
            accepted[todo[fine]] = True
            step[todo[~fine]] *= 0.5
        moved = bad[accepted]
        if moved.size:
            xa[moved] += step[accepted, None] * d_bad[accepted]
            fm, gm, hm = _derivatives(problem, xa[moved], ra[moved])
            evaluations += moved.size * per_point
            fa[moved], ga[moved], ha[moved] = fm, gm, hm
        # no descent along the Newton direction: stationary to the precision available
        stuck = bad[~accepted]
        if stuck.size:
            finished = live[stuck]
            converged[finished] = np.max(np.abs(d_bad[~accepted]), axis=1) < 1e3 * tolerance
            x[finished], f[finished], h[finished] = xa[stuck], fa[stuck], ha[stuck]
            keep = np.ones(live.size, dtype=bool)
            keep[stuck] = False
            live, xa, fa, ga, ha, ra = live[keep], xa[keep], fa[keep], ga[keep], ha[keep], ra[keep]
    x[live], f[live], h[live] = xa, fa, ha
    return x, f, converged, iterations, evaluations, h
