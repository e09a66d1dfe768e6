"""Wild cluster bootstrap of the DID coefficient, in numpy, on the FWL-residualised problem.

The restricted wild cluster bootstrap (WCR, Cameron, Gelbach & Miller 2008; MacKinnon &
Webb 2017; Roodman, MacKinnon, Nielsen & Webb 2019) of the coefficient on the treatment
``d`` in ``y ~ d + controls | fe``:

1. By Frisch-Waugh-Lovell, ``y`` and ``d`` are within-transformed and residualised on the
   controls once: ``y~`` and ``d~``. Under the null ``beta = beta0`` the restricted residuals
   are ``u = y~ - beta0 d~``.
2. Each draw multiplies the residuals of cluster ``g`` by one weight ``v_g`` (Rademacher
   +-1, or Webb's six-point law), ``y* = beta0 d~ + v_g u``, and computes the bootstrap
   t statistic ``t* = (beta* - beta0) / se*`` with the CRV1 standard error of that draw.

Everything reduces to two numbers per cluster, ``s_g = sum_g d~ u`` and ``c_g = sum_g d~^2``:
``beta* - beta0 = sum_g v_g s_g / D`` with ``D = sum d~^2``, and the draw's cluster scores
are ``v_g s_g - c_g (beta* - beta0)``, so a draw costs ``O(G)``. The p-value is the share of
draws with ``|t*| >= |t|`` up to rounding (the sign vectors of all ones and all minus ones
reproduce ``|t|`` exactly, and counting them keeps the test conservative; ``wildboottest``
counts them through rounding too), the confidence interval inverts the test over ``beta0``
by bisection with the same weights.

The fixed effects are partialled out before resampling (as pyfixest and ``wildboottest``
do with fixed effects); fixed effects not nested in the clusters (the year effects) are
thereby treated as known. ``tests/test_bootstrap.py`` checks the t statistic, every
bootstrap t and the p-value against ``wildboottest`` 0.3.2 on the same residualised data
under full enumeration of the Rademacher weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from cbec.estimators.fe import FEIndex

#: Weight laws of the bootstrap.
WEIGHTS = ("rademacher", "webb")

_WEBB = np.sqrt(np.array([1.5, 1.0, 0.5, 0.5, 1.0, 1.5])) * np.array([-1, -1, -1, 1, 1, 1])


@dataclass
class BootResult:
    """A wild cluster bootstrap test of ``beta = 0`` and its inverted interval.

    Attributes
    ----------
    coef, se, tstat
        The coefficient, its CRV1 standard error and t statistic (small-sample factor
        ``G/(G-1) (N-1)/(N-k)`` as in ``wildboottest``).
    p_value
        Bootstrap p-value of ``beta = 0`` (share of ``|t*| >= |t|``).
    ci_low, ci_high
        Bootstrap confidence interval by test inversion (``nan`` if not bracketed).
    t_boot
        The bootstrap t statistics under ``beta = 0``.
    n_boot, n_clusters, weights, seed, full_enumeration
        Settings of the run.
    """

    coef: float
    se: float
    tstat: float
    p_value: float
    ci_low: float
    ci_high: float
    t_boot: np.ndarray
    n_boot: int
    n_clusters: int
    weights: str
    seed: int
    full_enumeration: bool


def draw_weights(
    n_clusters: int, n_boot: int, kind: str, seed: int, *, enumerate_all: bool = True
) -> tuple[np.ndarray, bool]:
    """``(G, B)`` bootstrap weights; every Rademacher sign vector when ``2**G <= n_boot``."""
    if kind not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {kind!r}")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if kind == "rademacher" and enumerate_all and 2**n_clusters <= n_boot:
        v = np.array(list(product([-1.0, 1.0], repeat=n_clusters))).T
        return v, True
    rng = np.random.default_rng(seed)
    if kind == "rademacher":
        v = rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, n_boot))
    else:
        v = rng.choice(_WEBB, size=(n_clusters, n_boot))
    return v, False


def residualise(
    df: pd.DataFrame,
    y: str,
    treat: str = "did",
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(y~, d~, k)``: outcome and treatment net of the fixed effects and the controls.

    ``k`` counts the slopes (treatment and controls) for the small-sample factor.
    """
    cols = [y, treat, *controls]
    x = df[cols].to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(f"missing or infinite values in {cols}")
    xd = FEIndex.from_frame(df, fe).demean(x)
    yt, dt = xd[:, 0], xd[:, 1]
    if controls:
        z = xd[:, 2:]
        yt = yt - z @ np.linalg.lstsq(z, yt, rcond=None)[0]
        dt = dt - z @ np.linalg.lstsq(z, dt, rcond=None)[0]
    return yt, dt, 1 + len(controls)


def _cluster_sums(codes: np.ndarray, g: int, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.bincount(codes, weights=a, minlength=g) for a in arrays]


def _t_boot(s: np.ndarray, c: np.ndarray, dd: float, v: np.ndarray, ssc: float) -> np.ndarray:
    """Bootstrap t statistics of ``beta* - beta0`` for weights ``v`` (G x B)."""
    num = (s @ v) / dd  # (B,)
    scores = v * s[:, None] - c[:, None] * num[None, :]
    se = np.sqrt(ssc * (scores**2).sum(axis=0)) / dd
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / se


def wild_cluster_bootstrap(
    y_res: np.ndarray,
    d_res: np.ndarray,
    cluster: np.ndarray,
    *,
    k: int = 1,
    n_boot: int = 999,
    weights: str = "rademacher",
    seed: int = 0,
    alpha: float = 0.05,
    ci: bool = True,
    enumerate_all: bool = True,
) -> BootResult:
    """Restricted wild cluster bootstrap (WCR11) of ``beta`` in ``y~ = beta d~ + u``.

    Parameters
    ----------
    y_res, d_res
        Outcome and treatment already net of fixed effects and controls
        (:func:`residualise`).
    cluster
        Cluster label of every row (e.g. a city id).
    k
        Slopes of the original regression (for ``(N-1)/(N-k)``).
    n_boot, weights, seed
        Draws, weight law (:data:`WEIGHTS`) and seed. With Rademacher weights and
        ``2**G <= n_boot`` every sign vector is used once (full enumeration).
    alpha, ci
        Level of the inverted interval, and whether to compute it.
    """
    yv = np.asarray(y_res, dtype=float)
    dv = np.asarray(d_res, dtype=float)
    codes, uniq = pd.factorize(np.asarray(cluster), sort=True)
    g, n = len(uniq), len(yv)
    if g < 2:
        raise ValueError("the wild cluster bootstrap needs at least two clusters")
    dd = float(dv @ dv)
    coef = float(dv @ yv) / dd
    ssc = g / (g - 1) * (n - 1) / (n - k)
    c, s_y = _cluster_sums(codes, g, dv * dv, dv * yv)
    # analytic CRV1 at the unrestricted fit
    sc = s_y - c * coef
    se = float(np.sqrt(ssc * (sc**2).sum()) / dd)
    tstat = coef / se
    v, full = draw_weights(g, n_boot, weights, seed, enumerate_all=enumerate_all)

    def p_at(beta0: float) -> tuple[float, np.ndarray]:
        s = s_y - c * beta0  # scores of the restricted residuals y~ - beta0 d~
        tb = _t_boot(s, c, dd, v, ssc)
        t0 = (coef - beta0) / se
        # ">= up to rounding": the all-ones sign vector reproduces |t| exactly
        return float(np.mean(np.abs(tb) >= abs(t0) * (1.0 - 1e-10))), tb

    p, tb = p_at(0.0)
    lo = hi = float("nan")
    if ci:
        lo, hi = _invert(p_at, coef, se, alpha)
    return BootResult(coef, se, tstat, p, lo, hi, tb, int(v.shape[1]), g, weights, int(seed), full)


def _invert(p_at, coef: float, se: float, alpha: float, iters: int = 40) -> tuple[float, float]:
    """Endpoints where the bootstrap p-value crosses ``alpha``, by bisection on each side."""

    def side(sign: float) -> float:
        inner, outer = coef, coef + sign * 2.0 * se
        for _ in range(12):
            if p_at(outer)[0] < alpha:
                break
            outer = coef + (outer - coef) * 2.0
        else:
            return float("nan")
        for _ in range(iters):
            mid = 0.5 * (inner + outer)
            if p_at(mid)[0] >= alpha:
                inner = mid
            else:
                outer = mid
        return 0.5 * (inner + outer)

    return side(-1.0), side(1.0)


def bootstrap_did(
    df: pd.DataFrame,
    y: str = "syn",
    treat: str = "did",
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
    cluster: str = "cluster_city",
    *,
    n_boot: int = 999,
    weights: str = "rademacher",
    seed: int = 0,
    alpha: float = 0.05,
    ci: bool = True,
) -> BootResult:
    """Wild cluster bootstrap of the DID coefficient of ``y ~ treat + controls | fe``.

    Clusters are the values of ``cluster`` (default the paper's "city": the pilot city of a
    treated pair, ``city_i`` of a control pair). See :func:`wild_cluster_bootstrap`.
    """
    if cluster not in df.columns:
        raise KeyError(f"cluster column {cluster!r} is not in the panel")
    yt, dt, k = residualise(df, y, treat, controls, fe)
    return wild_cluster_bootstrap(
        yt, dt, df[cluster].to_numpy(), k=k, n_boot=n_boot, weights=weights, seed=seed,
        alpha=alpha, ci=ci,
    )  # fmt: skip
