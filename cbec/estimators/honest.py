"""Rambachan-Roth sensitivity of an event-study conclusion to violations of parallel trends.

Rambachan & Roth (2023) replace "parallel trends hold" by "the post-period violation is
no larger than ``Mbar`` times the largest pre-period violation" (relative magnitudes,
``Delta^RM(Mbar)``) or "the violation's slope changes by at most ``M`` a period"
(smoothness, ``Delta^SD(M)``), and report confidence sets for a target ``l' tau_post`` that
are valid under the weaker assumption.

:func:`rm_confidence_set`
    The relative-magnitudes set with the conditional least-favourable hybrid test of
    Andrews, Roth & Pakes (2023), written on numpy/scipy after R ``HonestDiD`` 0.2.x
    (``computeConditionalCS_DeltaRM``, method ``"C-LF"``): the union over the period ``s``
    of the largest pre-period change and its sign of the ARP hybrid sets, each found by
    test inversion on R's grid (``[-20 sd, 20 sd]`` of the target, 1,000 points). The
    least-favourable critical value is simulated with 1,000 draws exactly as R draws them
    (R's Mersenne-Twister seeded with 0, inversion normals, ``mvtnorm``'s eigen
    factorisation), so the sets equal R's on its own grid. The linear programme of the
    test statistic is solved by enumerating the vertices of its dual, which is exact and
    vectorises over the simulation draws and the grid; degenerate vertices fall back to
    R's dual bisection with scipy's HiGHS.
:func:`sd_confidence_set`
    The smoothness set (fixed-length confidence interval of Rambachan & Roth 2023, sec.
    4.1), from diff-diff 3.13.0's optimal FLCI (``diff_diff.honest_did``), which the tests
    hold to R's numbers.
:func:`breakdown`
    The smallest ``Mbar`` (or ``M``) at which the confidence set includes zero.

The test suite holds both to R ``HonestDiD``'s output on its BCdata example
(``tests/reference/honestdid_bcdata_r.json``) to 1e-3.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtri

# --------------------------------------------------------------------------- R's RNG


class RNormal:
    """Standard normal draws identical to R's ``set.seed(seed); rnorm(n)``.

    R's default generator: Mersenne-Twister seeded by ``set.seed``'s linear-congruential
    scrambling, normals by inversion of two uniforms (``norm_rand``, ``BIG = 2^27``).
    ``RNormal(0).draw(3)`` returns 1.26295428, -0.32623336, 1.32979926, as R does.
    """

    _N, _M = 624, 397

    def __init__(self, seed: int) -> None:
        s = int(seed) & 0xFFFFFFFF
        for _ in range(50):
            s = (69069 * s + 1) & 0xFFFFFFFF
        state = []
        for _ in range(625):
            s = (69069 * s + 1) & 0xFFFFFFFF
            state.append(s)
        self._mt = state[1:]  # state[0] is R's position counter, reset to 624
        self._buf = np.empty(0)
        self._pos = 0

    def _twist(self) -> None:
        mt, n, m = self._mt, self._N, self._M
        for k in range(n):
            y = (mt[k] & 0x80000000) | (mt[(k + 1) % n] & 0x7FFFFFFF)
            mt[k] = mt[(k + m) % n] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
        y = np.array(mt, dtype=np.uint64)
        y ^= y >> np.uint64(11)
        y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
        y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
        y ^= y >> np.uint64(18)
        u = (y & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.3283064365386963e-10
        half = 0.5 * 2.328306437080797e-10
        self._buf = np.where(u <= 0, half, np.where(1 - u <= 0, 1 - half, u))
        self._pos = 0

    def uniform(self, n: int) -> np.ndarray:
        """``n`` draws of R's ``unif_rand``."""
        out = np.empty(n)
        k = 0
        while k < n:
            if self._pos >= self._buf.size:
                self._twist()
            take = min(n - k, self._buf.size - self._pos)
            out[k : k + take] = self._buf[self._pos : self._pos + take]
            self._pos += take
            k += take
        return out

    def draw(self, n: int) -> np.ndarray:
        """``n`` draws of R's ``rnorm`` (inversion)."""
        u = self.uniform(2 * n).reshape(n, 2)
        big = 134217728.0
        return ndtri((np.floor(big * u[:, 0]) + u[:, 1]) / big)


def r_rmvnorm(n: int, sigma: np.ndarray, rng: RNormal) -> np.ndarray:
    """``mvtnorm::rmvnorm(n, sigma = sigma)`` (method ``"eigen"``) from R's draws."""
    w, v = np.linalg.eigh(sigma)
    root = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T  # symmetric root: sign-free
    z = rng.draw(n * sigma.shape[0]).reshape(n, sigma.shape[0])  # byrow = TRUE
    return z @ root.T


# --------------------------------------------------------------------------- Delta^RM


def rm_constraints(n_pre: int, n_post: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """R's ``.create_A_RM``: rows ``A`` with ``A delta <= 0`` for ``Delta^RM_{s,+/-}``.

    ``delta`` stacks the pre- and post-period violations (the reference period, zero, is
    left out). ``s`` in ``-(n_pre-1), ..., 0`` picks the pre-period first difference that
    bounds the others; ``positive`` its sign.
    """
    n = n_pre + n_post
    at = np.zeros((n, n + 1))
    for r in range(n):
        at[r, r : r + 2] = (-1.0, 1.0)
    vmax = np.zeros(n + 1)
    vmax[n_pre + s - 1 : n_pre + s + 1] = (-1.0, 1.0)
    if not positive:
        vmax = -vmax
    ub = np.vstack([np.tile(vmax, (n_pre, 1)), np.tile(mbar * vmax, (n_post, 1))])
    a = np.vstack([at - ub, -at - ub])
    a = a[(a * a).sum(axis=1) > 1e-10]
    return np.delete(a, n_pre, axis=1)


def _gamma(l_vec: np.ndarray) -> np.ndarray:
    """R's ``.construct_Gamma``: an invertible matrix whose first row is ``l'``."""
    t = l_vec.size
    b = np.column_stack([l_vec, np.eye(t)])
    cols: list[int] = []
    for j in range(b.shape[1]):
        trial = b[:, [*cols, j]]
        if np.linalg.matrix_rank(trial) == len(cols) + 1:
            cols.append(j)
        if len(cols) == t:
            break
    return b[:, cols].T


@dataclass
class _Vertices:
    """Feasible vertices of the dual of the eta programme ``min eta: y - X d <= sd eta``.

    The dual is ``max lam'y: lam'sd = 1, lam'X = 0, lam >= 0``; its optimum sits at a
    basic feasible solution with ``k + 1`` non-zero entries. ``lam`` holds one row per
    feasible basis (full length, zeros off the basis).
    """

    lam: np.ndarray
    bases: list[tuple[int, ...]]


def _dual_vertices(x: np.ndarray, sd: np.ndarray, max_bases: int = 20000) -> _Vertices | None:
    m, k = x.shape
    w = np.column_stack([sd, x])  # (m, k+1)
    if (
        sum(1 for _ in itertools.islice(itertools.combinations(range(m), k + 1), max_bases + 1))
        > max_bases
    ):
        return None
    lams, bases = [], []
    e1 = np.zeros(k + 1)
    e1[0] = 1.0
    for b in itertools.combinations(range(m), k + 1):
        wb = w[list(b)]
        if abs(np.linalg.det(wb)) < 1e-12:
            continue
        lb = np.linalg.solve(wb.T, e1)
        if (lb >= -1e-12).all():
            full = np.zeros(m)
            full[list(b)] = np.maximum(lb, 0.0)
            lams.append(full)
            bases.append(b)
    if not lams:
        return _Vertices(np.zeros((0, m)), [])
    lam = np.array(lams)
    _, first = np.unique(np.round(lam, 10), axis=0, return_index=True)
    first = np.sort(first)
    return _Vertices(lam[first], [bases[i] for i in first])


def _eta_lp(y: np.ndarray, x: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray, bool]:
    """R's ``.test_delta_lp_fn`` with HiGHS: ``eta``, dual ``lambda``, success flag."""
    m, k = x.shape
    c = np.r_[1.0, np.zeros(k)]
    a_ub = -np.column_stack([sd, x])
    res = optimize.linprog(c, A_ub=a_ub, b_ub=-y, bounds=[(None, None)] * (k + 1), method="highs")
    if res.status != 0:
        return np.nan, np.zeros(m), False
    return float(res.fun), -np.asarray(res.ineqlin.marginals), True


def _max_program(s_t, gamma, sigma, w_t, c):
    f = s_t + (sigma @ gamma) / float(gamma @ sigma @ gamma) * c
    a_eq = w_t.T
    b_eq = np.zeros(a_eq.shape[0])
    b_eq[0] = 1.0
    res = optimize.linprog(-f, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * f.size, method="highs")
    return res


def _is_solution(c, s_t, gamma, sigma, w_t, tol=1e-6):
    res = _max_program(s_t, gamma, sigma, w_t, c)
    if res.status != 0:
        return False, res
    return abs(c - (-res.fun)) <= tol, res


def _vlo_vup_dual(eta, s_t, gamma, sigma, w_t) -> tuple[float, float]:
    """R's ``.vlo_vup_dual_fn`` (bisection on the dual programme)."""
    tol_c = 1e-6
    sigma_b = np.sqrt(gamma @ sigma @ gamma)
    low0, high0 = min(-100.0, eta - 20 * sigma_b), max(100.0, eta + 20 * sigma_b)
    b = (sigma @ gamma) / float(gamma @ sigma @ gamma)
    ok, _ = _is_solution(eta, s_t, gamma, sigma, w_t)
    if not ok:
        return eta, np.inf

    def edge(start, toward_high):
        ok, res = _is_solution(start, s_t, gamma, sigma, w_t)
        if ok:
            return np.inf if toward_high else -np.inf
        dif, iters = 0.0, 1
        sol = res.x if res.status == 0 else np.zeros_like(b)
        num = sol @ s_t
        num = 0.0 if abs(num) < np.finfo(float).eps ** 0.75 else num
        mid = num / (1 - sol @ b)
        while True:
            ok, res = _is_solution(mid, s_t, gamma, sigma, w_t)
            if ok:
                break
            iters += 1
            if iters >= 10:
                dif = tol_c + 1
                break
            sol = res.x if res.status == 0 else np.zeros_like(b)
            num = sol @ s_t
            num = 0.0 if abs(num) < np.finfo(float).eps ** 0.75 else num
            mid = num / (1 - sol @ b)
        lo, hi = (eta, mid) if toward_high else (mid, eta)
        while dif > tol_c and iters < 10000:
            iters += 1
            mid = (lo + hi) / 2
            ok, _ = _is_solution(mid, s_t, gamma, sigma, w_t)
            if toward_high:
                lo, hi = (mid, hi) if ok else (lo, mid)
            else:
                lo, hi = (lo, mid) if ok else (mid, hi)
            dif = hi - lo
        return mid

    return edge(low0, False), edge(high0, True)


def _vlo_vup_vertices(
    eta: float, s_t: np.ndarray, gamma: np.ndarray, sigma: np.ndarray, lam: np.ndarray
) -> tuple[float, float]:
    """The same truncation points from the dual vertices, in closed form.

    R's bisection looks for the ``c`` at which ``max_x (s_T + b c)'x = c`` over the dual
    polytope (``b = Sigma gamma / gamma' Sigma gamma``). The maximum is over the vertices
    ``lam_v``, so the condition holds exactly when ``s_T'lam_v <= c (1 - b'lam_v)`` for
    every vertex: ``vlo`` is the largest bound from vertices with ``1 - b'lam_v > 0``,
    ``vup`` the smallest from those with ``1 - b'lam_v < 0``. R's search brackets
    ``[min(-100, eta - 20 sd), max(100, eta + 20 sd)]`` become infinite beyond.
    """
    sigma_b = float(np.sqrt(gamma @ sigma @ gamma))
    low0, high0 = min(-100.0, eta - 20 * sigma_b), max(100.0, eta + 20 * sigma_b)
    b = (sigma @ gamma) / float(gamma @ sigma @ gamma)
    num = lam @ s_t
    den = 1.0 - lam @ b
    pos, neg = den > 1e-12, den < -1e-12
    vlo = float((num[pos] / den[pos]).max()) if pos.any() else -np.inf
    vup = float((num[neg] / den[neg]).min()) if neg.any() else np.inf
    vlo = -np.inf if vlo <= low0 else min(vlo, eta)
    vup = np.inf if vup >= high0 else max(vup, eta)
    return vlo, vup


def _trunc_quantile(p: float, lo: float, hi: float) -> float:
    return float(stats.truncnorm.ppf(p, lo, hi))


def _conditional_test(
    y: np.ndarray,
    x: np.ndarray,
    sigma: np.ndarray,
    alpha: float,
    kappa: float,
    lf_cv: float,
    eta: float,
    lam: np.ndarray,
    vertices: np.ndarray | None = None,
) -> bool:
    """R's ``.lp_conditional_test_fn`` (hybrid ``"LF"``) given the LP solution; True = reject."""
    m, k = x.shape
    mod_size = (alpha - kappa) / (1 - kappa)
    if eta > lf_cv:
        return True
    sd = np.sqrt(np.diag(sigma))
    b_idx = lam > 1e-6
    degenerate = b_idx.sum() != k + 1
    xb = x[b_idx]
    full_rank = min(xb.shape) > 0 and np.linalg.matrix_rank(xb) == min(xb.shape)
    if degenerate or not full_rank:
        w_t = np.column_stack([sd, x])
        g = lam
        s_t = y - (sigma @ g) * (g @ y) / float(g @ sigma @ g)
        if vertices is not None:
            vlo, vup = _vlo_vup_vertices(eta, s_t, g, sigma, vertices)
        else:
            vlo, vup = _vlo_vup_dual(eta, s_t, g, sigma, w_t)
        s2 = float(g @ sigma @ g)
        if abs(s2) < np.finfo(float).eps:
            return eta > 0
        sb = np.sqrt(s2)
        stat = eta / sb
        zlo, zup = vlo / sb, min(vup, lf_cv) / sb
    else:
        bc = ~b_idx
        wb = np.column_stack([sd[b_idx], xb])
        wbc = np.column_stack([sd[bc], x[bc]])
        s_b = np.eye(m)[b_idx]
        s_bc = np.eye(m)[bc]
        winv = np.linalg.solve(wb, s_b)
        gam_b = wbc @ winv - s_bc
        v_b = winv[0]
        s2 = float(v_b @ sigma @ v_b)
        sb = np.sqrt(s2)
        rho = gam_b @ sigma @ v_b / s2
        with np.errstate(divide="ignore", invalid="ignore"):
            mm = (-gam_b @ y) / rho + v_b @ y
        vlo = mm[rho > 0].max() if (rho > 0).any() else -np.inf
        vup = mm[rho < 0].min() if (rho < 0).any() else np.inf
        zlo, zup = vlo / sb, min(vup, lf_cv) / sb
        stat = eta / sb
    if not (zlo <= stat <= zup):
        return False
    cval = max(0.0, _trunc_quantile(1 - mod_size, zlo, zup))
    return bool(stat > cval)


def _accept_grid_fixed_s(
    betahat: np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    a: np.ndarray,
    l_vec: np.ndarray,
    grid: np.ndarray,
    alpha: float,
    kappa: float,
    sims: int,
    seed: int,
    vectorized: bool = True,
) -> np.ndarray:
    """ARP hybrid (LF) acceptance of every grid value for one polyhedron ``A delta <= 0``."""
    post = slice(n_pre, n_pre + n_post)
    if n_post > 1:
        rows = np.flatnonzero((a[:, post] != 0).any(axis=1))
    else:
        raise NotImplementedError("one post period: use the no-nuisance ARP test")
    a = a[rows]
    gam_inv = np.linalg.inv(_gamma(l_vec))
    agi = a[:, post] @ gam_inv
    a1, x = agi[:, 0], agi[:, 1:]
    y0 = a @ betahat
    sig_y = a @ sigma @ a.T
    sd = np.sqrt(np.diag(sig_y))
    verts = _dual_vertices(x, sd)
    # least-favourable critical value, R's draws
    xi = r_rmvnorm(sims, sig_y, RNormal(seed))
    if verts is not None:
        etas = (verts.lam @ (-xi).T).max(axis=0) if len(verts.bases) else np.full(sims, np.nan)
    else:
        etas = np.array([_eta_lp(-d, x, sd)[0] for d in xi])
    lf_cv = float(np.nanquantile(etas, 1 - kappa))
    if verts is not None and vectorized:
        if not len(verts.bases):
            return np.ones(grid.size, dtype=bool)  # unbounded programme: R does not reject
        return _accept_vertices(y0, a1, grid, x, sig_y, alpha, kappa, lf_cv, verts.lam)
    accept = np.zeros(grid.size, dtype=bool)
    for i, theta in enumerate(grid):
        y = y0 - a1 * theta
        if verts is not None:
            if not len(verts.bases):
                accept[i] = True  # unbounded programme: R does not reject
                continue
            vals = verts.lam @ y
            j = int(np.argmax(vals))
            eta, lam = float(vals[j]), verts.lam[j]
            if eta > lf_cv:  # first stage of the hybrid rejects; no dual needed
                continue
            accept[i] = not _conditional_test(
                y, x, sig_y, alpha, kappa, lf_cv, eta, lam, vertices=verts.lam
            )
            continue
        else:
            eta, lam, ok = _eta_lp(y, x, sd)
            if not ok:
                accept[i] = True
                continue
        accept[i] = not _conditional_test(y, x, sig_y, alpha, kappa, lf_cv, eta, lam)
    return accept


def _accept_vertices(
    y0: np.ndarray,
    a1: np.ndarray,
    grid: np.ndarray,
    x: np.ndarray,
    sigma: np.ndarray,
    alpha: float,
    kappa: float,
    lf_cv: float,
    lam: np.ndarray,
) -> np.ndarray:
    """:func:`_conditional_test` on the whole grid at once, grouped by the optimal vertex.

    ``y(theta) = y0 - a1 theta`` is linear in ``theta``, so for the grid values that share
    an optimal dual vertex every quantity of the test (``eta``, the truncation points,
    ``sigma_B``) is a vectorised linear map of the grid.
    """
    m, k = x.shape
    mod_size = (alpha - kappa) / (1 - kappa)
    sd = np.sqrt(np.diag(sigma))
    Y = y0[:, None] - a1[:, None] * grid[None, :]  # (m, G)
    vals = lam @ Y  # (V, G)
    best = vals.argmax(axis=0)
    eta = vals[best, np.arange(grid.size)]
    accept = np.zeros(grid.size, dtype=bool)
    live = eta <= lf_cv  # else the first stage rejects
    for j in np.unique(best[live]):
        cols = np.flatnonzero(live & (best == j))
        g = lam[j]
        yj, ej = Y[:, cols], eta[cols]
        b_idx = g > 1e-6
        xb = x[b_idx]
        full_rank = min(xb.shape) > 0 and np.linalg.matrix_rank(xb) == min(xb.shape)
        if b_idx.sum() != k + 1 or not full_rank:
            s2 = float(g @ sigma @ g)
            if abs(s2) < np.finfo(float).eps:
                accept[cols] = ~(ej > 0)
                continue
            sb = np.sqrt(s2)
            bvec = sigma @ g / s2
            s_t = yj - np.outer(sigma @ g, g @ yj) / s2
            num = lam @ s_t
            den = 1.0 - lam @ bvec
            pos, neg = den > 1e-12, den < -1e-12
            vlo = (
                (num[pos] / den[pos, None]).max(axis=0)
                if pos.any()
                else np.full(cols.size, -np.inf)
            )
            vup = (
                (num[neg] / den[neg, None]).min(axis=0) if neg.any() else np.full(cols.size, np.inf)
            )
            low0 = np.minimum(-100.0, ej - 20 * sb)
            high0 = np.maximum(100.0, ej + 20 * sb)
            vlo = np.where(vlo <= low0, -np.inf, np.minimum(vlo, ej))
            vup = np.where(vup >= high0, np.inf, np.maximum(vup, ej))
        else:
            bc = ~b_idx
            wb = np.column_stack([sd[b_idx], xb])
            wbc = np.column_stack([sd[bc], x[bc]])
            winv = np.linalg.solve(wb, np.eye(m)[b_idx])
            gam_b = wbc @ winv - np.eye(m)[bc]
            v_b = winv[0]
            s2 = float(v_b @ sigma @ v_b)
            sb = np.sqrt(s2)
            rho = gam_b @ sigma @ v_b / s2
            with np.errstate(divide="ignore", invalid="ignore"):
                mm = (-gam_b @ yj) / rho[:, None] + (v_b @ yj)[None, :]
            vlo = mm[rho > 0].max(axis=0) if (rho > 0).any() else np.full(cols.size, -np.inf)
            vup = mm[rho < 0].min(axis=0) if (rho < 0).any() else np.full(cols.size, np.inf)
        zlo, zup = vlo / sb, np.minimum(vup, lf_cv) / sb
        stat = ej / sb
        inside = (zlo <= stat) & (stat <= zup)
        rej = np.zeros(cols.size, dtype=bool)
        if inside.any():
            cval = np.maximum(0.0, stats.truncnorm.ppf(1 - mod_size, zlo[inside], zup[inside]))
            rej[inside] = stat[inside] > cval
        accept[cols] = ~rej
    return accept


@dataclass
class HonestResult:
    """A robust confidence set for ``l' tau_post`` under one restriction.

    Attributes
    ----------
    method
        ``"RM"`` (relative magnitudes, C-LF) or ``"SD"`` (smoothness, FLCI).
    param
        ``Mbar`` or ``M``.
    lb, ub
        Bounds of the confidence set (the smallest and largest accepted grid values for
        RM; the FLCI for SD).
    open_at_edge
        RM only: the set reaches an end of the grid (R warns in that case).
    """

    method: str
    param: float
    lb: float
    ub: float
    open_at_edge: bool = False


def rm_confidence_set(
    betahat: np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    mbar: float,
    l_vec: np.ndarray | None = None,
    alpha: float = 0.05,
    grid_points: int = 1000,
    grid: tuple[float, float] | None = None,
    sims: int = 1000,
    seed: int = 0,
    vectorized: bool = True,
) -> HonestResult:
    """Relative-magnitudes confidence set (R ``computeConditionalCS_DeltaRM``, C-LF).

    Parameters
    ----------
    betahat, sigma
        Event-study coefficients (``n_pre`` leads in time order, then ``n_post`` lags; the
        reference period left out) and their variance.
    mbar
        ``Mbar``: the post-period changes of the violation may be at most ``Mbar`` times
        the largest pre-period change.
    l_vec
        Target weights on the post coefficients (default: the first post period, R's
        default).
    grid_points, grid
        Test-inversion grid; default R's: ``grid_points`` values on ``[-20 sd, 20 sd]``,
        ``sd`` the standard error of ``l'beta_post``.
    sims, seed
        Draws and R seed of the least-favourable critical value (R: 1,000 and 0).
    vectorized
        Test the whole grid at once (default); ``False`` loops over the grid as R does
        (slower; the tests check that both agree).
    """
    betahat = np.asarray(betahat, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float)
    if betahat.size != n_pre + n_post or sigma.shape != (betahat.size, betahat.size):
        raise ValueError("betahat and sigma must have n_pre + n_post entries")
    if n_pre < 1 or n_post < 2:
        raise ValueError("needs at least one pre period and two post periods")
    if l_vec is None:
        l_vec = np.zeros(n_post)
        l_vec[0] = 1.0
    l_vec = np.asarray(l_vec, dtype=float).ravel()
    post = slice(n_pre, n_pre + n_post)
    sd = float(np.sqrt(l_vec @ sigma[post, post] @ l_vec))
    lo, hi = grid if grid is not None else (-20 * sd, 20 * sd)
    theta = np.linspace(lo, hi, grid_points)
    accept = np.zeros(grid_points, dtype=bool)
    for s in range(-(n_pre - 1), 1):
        for positive in (True, False):
            a = rm_constraints(n_pre, n_post, mbar, s, positive)
            accept |= _accept_grid_fixed_s(
                betahat,
                sigma,
                n_pre,
                n_post,
                a,
                l_vec,
                theta,
                alpha,
                alpha / 10,
                sims,
                seed,
                vectorized,
            )
    if not accept.any():
        return HonestResult("RM", float(mbar), np.nan, np.nan, False)
    return HonestResult(
        "RM",
        float(mbar),
        float(theta[accept].min()),
        float(theta[accept].max()),
        bool(accept[0] or accept[-1]),
    )


def sd_confidence_set(
    betahat: np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    m: float,
    l_vec: np.ndarray | None = None,
    alpha: float = 0.05,
) -> HonestResult:
    """Smoothness (``Delta^SD(M)``) fixed-length confidence interval, via diff-diff 3.13.0."""
    from diff_diff.honest_did import _compute_optimal_flci

    betahat = np.asarray(betahat, dtype=float).ravel()
    if l_vec is None:
        l_vec = np.zeros(n_post)
        l_vec[0] = 1.0
    lb, ub = _compute_optimal_flci(
        betahat[:n_pre],
        betahat[n_pre:],
        np.asarray(sigma, dtype=float),
        np.asarray(l_vec, dtype=float),
        n_pre,
        n_post,
        float(m),
        alpha,
    )
    return HonestResult("SD", float(m), float(lb), float(ub))


def original_ci(
    betahat: np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    l_vec: np.ndarray | None = None,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """The usual interval for ``l' beta_post`` under exact parallel trends."""
    if l_vec is None:
        l_vec = np.zeros(n_post)
        l_vec[0] = 1.0
    post = slice(n_pre, n_pre + n_post)
    est = float(l_vec @ np.asarray(betahat)[post])
    se = float(np.sqrt(l_vec @ np.asarray(sigma)[post, post] @ l_vec))
    z = stats.norm.ppf(1 - alpha / 2)
    return est - z * se, est + z * se


def sensitivity(
    betahat: np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    mbars: np.ndarray,
    ms: np.ndarray,
    l_vec: np.ndarray | None = None,
    alpha: float = 0.05,
    grid_points: int = 1000,
) -> pd.DataFrame:
    """Robust sets over grids of ``Mbar`` (RM) and ``M`` (SD): ``method, param, lb, ub``."""
    rows = []
    for mb in mbars:
        r = rm_confidence_set(
            betahat, sigma, n_pre, n_post, mb, l_vec, alpha, grid_points=grid_points
        )
        rows.append(vars(r))
    for m in ms:
        rows.append(vars(sd_confidence_set(betahat, sigma, n_pre, n_post, m, l_vec, alpha)))
    return pd.DataFrame(rows)


def breakdown(table: pd.DataFrame, method: str, sign: float = 1.0) -> float:
    """Smallest parameter on the grid at which the set stops excluding zero on ``sign``'s side.

    ``sign=+1`` asks when a positive conclusion (``lb > 0``) breaks; ``-1`` a negative one.
    Returns NaN if the conclusion holds on the whole grid, 0.0 if it never held.
    """
    t = table[table["method"] == method].sort_values("param")
    holds = (t["lb"] > 0) if sign > 0 else (t["ub"] < 0)
    holds = holds & t["lb"].notna()
    if not holds.iloc[0]:
        return 0.0
    broken = t.loc[~holds.to_numpy(), "param"]
    return float(broken.iloc[0]) if len(broken) else float("nan")
