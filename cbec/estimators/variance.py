"""Variances for pair-year regressions that pyfixest does not offer.

:func:`dyadic_vcov`
    Pairs of cities are not independent: every pair that contains Hangzhou shares
    Hangzhou's shocks. The dyadic-robust sandwich (Fafchamps & Gubert 2007; Cameron &
    Miller 2014; Aronow, Samii & Assenova 2015) lets the scores of any two observations
    that share at least one city be correlated, and is computed here in ``O(n k^2)``
    through per-city score sums.

:func:`clip_psd`
    Eigenvalue clipping of a variance that is not positive semi-definite (Cameron, Gelbach
    & Miller 2011, sec. 2.3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- dyadic


def _as_codes(city_i: np.ndarray, city_j: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Joint integer codes of the two city columns; validate them."""
    ci = np.asarray(city_i).ravel()
    cj = np.asarray(city_j).ravel()
    if ci.size != n or cj.size != n:
        raise ValueError(f"city_i ({ci.size}) and city_j ({cj.size}) must have {n} entries")
    both = pd.Series(np.concatenate([ci, cj]))
    if both.isna().any():
        raise ValueError("city_i / city_j contain missing values")
    codes, uniq = pd.factorize(both)
    a, b = codes[:n], codes[n:]
    same = np.flatnonzero(a == b)
    if same.size:
        raise ValueError(
            f"{same.size} observations pair a city with itself (first at row {same[0]})"
        )
    return a.astype(np.int64), b.astype(np.int64), len(uniq)


def _group_sums(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` (n, k) by integer ``codes`` -> (n_groups, k)."""
    return np.column_stack(
        [
            np.bincount(codes, weights=values[:, j], minlength=n_groups)
            for j in range(values.shape[1])
        ]
    )


def dyadic_vcov(
    X_dm: np.ndarray,
    resid: np.ndarray,
    city_i: np.ndarray,
    city_j: np.ndarray,
    bread: np.ndarray | None = None,
    ssc: bool = True,
) -> np.ndarray:
    """Dyadic-robust variance of OLS coefficients on a pair (dyad) panel.

    With scores ``s_a = x_a e_a`` (``x`` the regressors after the fixed effects are
    projected out, ``e`` the residuals), the meat is

        M = sum over all (a, b) sharing at least one city of s_a s_b'

    (Fafchamps & Gubert 2007; Cameron & Miller 2014, sec. 3; Aronow, Samii & Assenova
    2015). It is computed in ``O(n k^2)``: with ``S_c`` the sum of the scores of every
    observation that contains city ``c`` and ``T_d`` the score sum of the observations of
    unordered dyad ``d`` (all its years), ``sum_c S_c S_c'`` counts each (a, b) once per
    shared city, and two observations share both cities exactly when they belong to the
    same dyad, so ``M = sum_c S_c S_c' - sum_d T_d T_d'``. Every observation of a dyad is
    thereby clustered with every observation of the same dyad and of any dyad that shares
    one of its cities. ``M`` need not be positive semi-definite in small samples.

    Parameters
    ----------
    X_dm
        ``(n, k)`` (or ``(n,)``) regressors after the within transformation.
    resid
        ``(n,)`` residuals.
    city_i, city_j
        The two cities of each observation (any hashable codes; order does not matter).
    bread
        ``(X'X)^-1``; computed from ``X_dm`` when ``None``.
    ssc
        Multiply by ``G/(G-1)``, ``G`` the number of distinct cities (the cluster factor of
        Cameron & Miller 2014 with cities as clusters); ``False`` for none. No
        ``(N-1)/(N-k)`` factor is applied. The raw sandwich is returned; :func:`clip_psd`
        sets negative eigenvalues to zero where a caller needs every standard error.

    Returns
    -------
    ndarray
        ``(k, k)`` variance matrix ``bread @ M @ bread * factor``.
    """
    X = np.asarray(X_dm, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X_dm must be 1-D or 2-D, got shape {X.shape}")
    n, k = X.shape
    e = np.asarray(resid, dtype=np.float64).ravel()
    if e.size != n:
        raise ValueError(f"resid has {e.size} entries, X_dm has {n} rows")
    if not (np.isfinite(X).all() and np.isfinite(e).all()):
        raise ValueError("X_dm and resid must be finite")
    a, b, n_city = _as_codes(city_i, city_j, n)
    scores = X * e[:, None]
    city_sum = _group_sums(a, scores, n_city) + _group_sums(b, scores, n_city)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    dyad, uniq = pd.factorize(lo * n_city + hi)
    dyad_sum = _group_sums(dyad.astype(np.int64), scores, len(uniq))
    meat = city_sum.T @ city_sum - dyad_sum.T @ dyad_sum
    if bread is None:
        bread = np.linalg.inv(X.T @ X)
    bread = np.asarray(bread, dtype=np.float64)
    if bread.shape != (k, k):
        raise ValueError(f"bread must be {(k, k)}, got {bread.shape}")
    v = bread @ meat @ bread
    if ssc:
        if n_city < 2:
            raise ValueError("the G/(G-1) factor needs at least two cities")
        v = v * (n_city / (n_city - 1.0))
    return (v + v.T) / 2.0


def clip_psd(v: np.ndarray) -> np.ndarray:
    """Set the negative eigenvalues of a symmetric matrix to zero (CGM 2011, sec. 2.3)."""
    w, u = np.linalg.eigh(v)
    if (w >= 0).all():
        return v
    return (u * np.maximum(w, 0.0)) @ u.T
