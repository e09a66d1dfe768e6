"""Variances of estimators given their per-pair influence functions.

An estimator with influence functions ``psi_p`` (one row per city pair, one column per
target, ``estimate - truth ~= sum_p psi_p``) has the clustered variance
``sum_c (sum_{p in c} psi_p)(sum_{p in c} psi_p)'``. On a pair panel the natural
dependence is dyadic: every pair is correlated with every pair that shares one of its two
cities (Fafchamps & Gubert 2007; Cameron & Miller 2014; Aronow, Samii & Assenova 2015):

    V_dyadic = sum over (p, q) sharing a city of psi_p psi_q'
             = sum_c S_c S_c' - sum_p psi_p psi_p',

with ``S_c`` the sum of ``psi`` over the pairs that contain city ``c`` (a pair sharing both
cities with itself is counted twice by the first sum; pairs are unique here, each pair's
years already summed into ``psi_p``). Two-way clustering by the first and the second city
(Cameron, Gelbach & Miller 2011) is ``V_i + V_j - V_pair``.

:func:`if_vcov` returns any of them; the small-sample factor is ``G/(G-1)`` with ``G`` the
clusters (cities for ``dyadic``, as in :func:`cbec.estimators.variance.dyadic_vcov`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Variance types of :func:`if_vcov`.
IF_VCOV_TYPES = ("pair", "pilot_city", "city_i", "twoway", "dyadic")


def _cluster_meat(psi: np.ndarray, codes: np.ndarray, ssc: bool) -> np.ndarray:
    codes_f, uniq = pd.factorize(codes)
    g = len(uniq)
    sums = np.zeros((g, psi.shape[1]))
    np.add.at(sums, codes_f, psi)
    meat = sums.T @ sums
    return meat * (g / (g - 1.0)) if ssc and g > 1 else meat


def if_vcov(psi: np.ndarray | pd.DataFrame, units: pd.DataFrame, kind: str, ssc: bool = True):
    """Variance matrix of the targets (columns of ``psi``) under one dependence structure.

    Parameters
    ----------
    psi
        Pairs x targets influence functions.
    units
        ``pair_id, city_i, city_j, cluster_city`` for the rows of ``psi``.
    kind
        ``"pair"``, ``"pilot_city"`` (the ``cluster_city`` column), ``"city_i"``,
        ``"twoway"`` (``city_i`` and ``city_j``) or ``"dyadic"``.
    ssc
        Apply ``G/(G-1)`` (per component for two-way).
    """
    cols = psi.columns if isinstance(psi, pd.DataFrame) else None
    P = np.asarray(psi, dtype=float)
    if P.ndim == 1:
        P = P[:, None]
    if len(units) != P.shape[0]:
        raise ValueError("psi and units must have the same rows")
    if not np.isfinite(P).all():
        raise ValueError("influence functions must be finite")
    if kind == "pair":
        v = _cluster_meat(P, units["pair_id"].to_numpy(), ssc)
    elif kind == "pilot_city":
        v = _cluster_meat(P, units["cluster_city"].to_numpy(), ssc)
    elif kind == "city_i":
        v = _cluster_meat(P, units["city_i"].to_numpy(), ssc)
    elif kind == "twoway":
        v = (
            _cluster_meat(P, units["city_i"].to_numpy(), ssc)
            + _cluster_meat(P, units["city_j"].to_numpy(), ssc)
            - _cluster_meat(P, units["pair_id"].to_numpy(), ssc)
        )
    elif kind == "dyadic":
        ci, cj = units["city_i"].to_numpy(), units["city_j"].to_numpy()
        if (ci == cj).any():
            raise ValueError("a pair joins a city with itself")
        codes, uniq = pd.factorize(np.concatenate([ci, cj]))
        n, g = len(ci), len(uniq)
        s = np.zeros((g, P.shape[1]))
        np.add.at(s, codes[:n], P)
        np.add.at(s, codes[n:], P)
        v = s.T @ s - P.T @ P
        if ssc:
            v = v * (g / (g - 1.0))
    else:
        raise ValueError(f"kind must be one of {IF_VCOV_TYPES}, got {kind!r}")
    v = (v + v.T) / 2
    return pd.DataFrame(v, index=cols, columns=cols) if cols is not None else v


def if_se(psi: pd.DataFrame, units: pd.DataFrame, kinds=IF_VCOV_TYPES) -> pd.DataFrame:
    """Standard errors of every target (rows) under every variance type (columns)."""
    out = {}
    for k in kinds:
        d = np.diag(np.asarray(if_vcov(psi, units, k)))
        out[k] = np.sqrt(np.where(d > 0, d, np.nan))
    return pd.DataFrame(out, index=psi.columns)


def dyadic_bruteforce(psi: np.ndarray, city_i: np.ndarray, city_j: np.ndarray) -> np.ndarray:
    """The dyadic meat as a double sum over pairs sharing a city (tests only; O(n^2))."""
    P = np.asarray(psi, dtype=float).reshape(len(city_i), -1)
    ci, cj = np.asarray(city_i), np.asarray(city_j)
    share = (
        (ci[:, None] == ci[None, :])
        | (ci[:, None] == cj[None, :])
        | (cj[:, None] == ci[None, :])
        | (cj[:, None] == cj[None, :])
    )
    return P.T @ share.astype(float) @ P
