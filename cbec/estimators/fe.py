"""Fixed-effects difference-in-differences on the city-pair x year panel.

The baseline model of the paper is

    SYN_ijt = beta * DID_ijt + X_ijt' gamma + mu_ij + lambda_t + e_ijt,

with pair and year fixed effects. :func:`fit_twfe` fits it with pyfixest's ``feols``
(Berge 2018's fixest algorithm: the fixed effects are projected out by alternating
projections, Gaure 2013) and returns a :class:`FitResult` whose standard errors follow one
of six conventions (:data:`VCOV_TYPES`). The dyadic-robust variance, which no Python DID
library offers, is computed in :mod:`cbec.estimators.placebo` from the demeaned regressors and the
residuals of the very same fit. :func:`se_table` puts the one point estimate beside its
standard errors under several clusterings, and :func:`demean` / :class:`FEIndex` are the
within transformation shared with the placebo engine.

Input contract: a pair-year frame with ``pair_id, city_i, city_j, year, treated,
pilot_city, cluster_city, treat_year, did``, the outcome and optional controls. Rows with
a missing value in a used column are an error here (nothing is dropped silently);
singleton fixed-effect groups, which pyfixest drops, are counted in
``FitResult.n_dropped`` and announced with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyfixest as pf
from scipy import stats

#: Variance estimators understood by :func:`fit_fe`, :func:`fit_twfe`, :func:`se_table` and
#: the event study: the clustering vocabulary of ``Spec.cluster`` (:data:`cbec.spec.CLUSTERS`)
#: plus ``"iid"`` and ``"hetero"``. One name per choice; the columns each needs are in
#: :data:`VCOV_COLUMNS` (``"pilot_city"`` clusters on the panel column ``cluster_city``).
VCOV_TYPES: tuple[str, ...] = (
    "iid", "hetero", "pair", "pilot_city", "twoway", "dyadic", "province",
)  # fmt: skip

#: pyfixest's ``vcov`` argument for each of our names (``dyadic`` is computed here).
_PF_VCOV: dict[str, str | dict[str, str]] = {
    "iid": "iid",
    "hetero": "hetero",
    "pair": {"CRV1": "pair_id"},
    "pilot_city": {"CRV1": "cluster_city"},
    "twoway": {"CRV1": "city_i+city_j"},
    "province": {"CRV1": "cluster_province"},
}

#: Human labels printed under tables.
VCOV_LABELS: dict[str, str] = {
    "iid": "iid (homoskedastic)",
    "hetero": "heteroskedasticity-robust (HC1)",
    "pair": "clustered by city pair (CRV1)",
    "pilot_city": "clustered by city: the pilot city of a treated pair, city_i otherwise (CRV1)",
    "twoway": "two-way clustered by city_i and city_j (CRV1, Cameron-Gelbach-Miller 2011)",
    "dyadic": "dyadic-robust: pairs sharing a city are correlated (Aronow-Samii-Assenova 2015)",
    "province": "clustered by the province of the pilot city (city_i otherwise) (CRV1)",
}

#: Columns each variance estimator needs besides the regression variables.
VCOV_COLUMNS: dict[str, tuple[str, ...]] = {
    "iid": (),
    "hetero": (),
    "pair": ("pair_id",),
    "pilot_city": ("cluster_city",),
    "twoway": ("city_i", "city_j"),
    "dyadic": ("city_i", "city_j"),
    "province": ("cluster_province",),
}


# --------------------------------------------------------------------------- results
@dataclass
class FitResult:
    """A fitted fixed-effects regression with one variance estimator.

    Attributes
    ----------
    coef, se, tstat, pvalue, ci_low, ci_high
        Indexed by term. p-values and the ``level`` interval (95% unless asked) use
        Student's t with ``df_resid`` degrees of freedom.
    vcov
        Variance matrix of ``coef`` (terms x terms).
    nobs, n_pairs, n_cities
        Observations, pairs and distinct cities used by the fit.
    n_dropped
        Rows of the input that the fit did not use (pyfixest's singleton removal).
    r2, r2_within
        R-squared of the full model (fixed effects included) and of the within model.
    vcov_type
        Key of :data:`VCOV_TYPES`; ``vcov_label`` is its human label.
    ssc
        The small-sample convention in words, with the factor applied.
    df_resid
        Degrees of freedom of the t distribution: ``N - df_k`` for ``iid``/``hetero``,
        ``G - 1`` for clustered errors (``G`` the smallest cluster count for two-way),
        ``n_cities - 1`` for ``dyadic`` (the fixest convention, Berge 2018).
    n_clusters
        Clusters behind the variance (``None`` for ``iid``/``hetero``; the smaller of
        the two counts for ``twoway``; cities for ``dyadic``).
    y_name, fe
        Outcome and fixed effects.
    """

    coef: pd.Series
    se: pd.Series
    vcov: pd.DataFrame
    tstat: pd.Series
    pvalue: pd.Series
    ci_low: pd.Series
    ci_high: pd.Series
    nobs: int
    n_pairs: int
    n_cities: int
    r2: float
    r2_within: float
    vcov_type: str
    ssc: str
    df_resid: float
    y_name: str
    fe: tuple[str, ...]
    vcov_label: str = ""
    n_clusters: int | None = None
    n_dropped: int = 0

    def tidy(self) -> pd.DataFrame:
        """One row per term: ``term, coef, se, tstat, pvalue, ci_low, ci_high, vcov``."""
        out = pd.DataFrame(
            {
                "coef": self.coef,
                "se": self.se,
                "tstat": self.tstat,
                "pvalue": self.pvalue,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )
        out.index.name = "term"
        out = out.reset_index()
        out["vcov"] = self.vcov_type
        return out


# --------------------------------------------------------------------------- checks
def _check_frame(
    df: pd.DataFrame, y: str, treat: str, controls: Sequence[str], fe: Sequence[str], extra=()
) -> list[str]:
    """Validate the columns a fit needs; return the regressors (treat first)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[0] == 0:
        raise ValueError("df has no rows")
    regressors = [treat, *controls]
    if len(set(regressors)) != len(regressors) or y in regressors:
        raise ValueError(f"outcome {y!r}, treatment and controls {regressors} must be distinct")
    if len(fe) == 0:
        raise ValueError("fe must name at least one fixed-effect column")
    needed = list(dict.fromkeys([y, *regressors, *fe, *extra]))
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise KeyError(f"columns missing from the pair panel: {missing}")
    bad_names = [c for c in [y, *regressors, *fe] if not str(c).isidentifier()]
    if bad_names:
        raise ValueError(f"column names must be Python identifiers for the formula: {bad_names}")
    for c in [y, *regressors]:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise TypeError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")
    n_missing = df[needed].isna().sum()
    n_missing = n_missing[n_missing > 0]
    if len(n_missing):
        detail = ", ".join(f"{k}: {v}" for k, v in n_missing.items())
        raise ValueError(
            f"missing values in used columns ({detail}); drop or impute these rows "
            "explicitly before fitting"
        )
    if not np.isfinite(df[[y, *regressors]].to_numpy(dtype=float)).all():
        raise ValueError(f"infinite values in {[y, *regressors]}")
    if df[treat].nunique() < 2:
        raise ValueError(f"treatment column {treat!r} is constant; nothing to estimate")
    return regressors


def _check_vcov(vcov: str) -> None:
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")


# --------------------------------------------------------------------------- fitting
@contextmanager
def pyfixest_quiet() -> Iterator[None]:
    """The one warning policy of every pyfixest call of the package.

    Silenced: pyfixest's own singleton notice (:func:`fit_fe` counts dropped rows and warns
    once in words) and the pandas deprecation warnings pyfixest 0.60 triggers
    (``DataFrame.drop(inplace=True)``). Everything else reaches the caller.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*singleton fixed effect.*")
        warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning, module="pyfixest")
        warnings.filterwarnings(
            "ignore", message="The inplace keyword", category=DeprecationWarning
        )
        yield


def _fit_model(
    df: pd.DataFrame,
    y: str,
    regressors: list[str],
    fe: Sequence[str],
    vcov: str | dict[str, str],
    ssc: dict | None,
    fixef_tol: float | None,
    *,
    caller: str = "fit_twfe",
    allow_collinear: bool = False,
):
    """Run pyfixest ``feols`` (the package's only call) and return ``(model, n_dropped)``."""
    fml = f"{y} ~ {' + '.join(regressors)}" + (f" | {' + '.join(fe)}" if len(fe) else "")
    demeaner = pf.MapDemeaner(fixef_tol=fixef_tol) if fixef_tol is not None else None
    with pyfixest_quiet():
        model = pf.feols(fml, data=df, vcov=vcov, ssc=ssc, demeaner=demeaner)
    n_dropped = int(df.shape[0] - model._N)
    if n_dropped:
        warnings.warn(
            f"{caller}: {n_dropped} of {df.shape[0]} rows were not used (missing values or "
            "singleton fixed-effect groups, which carry no within information)",
            UserWarning,
            stacklevel=4,
        )
    missing = [r for r in regressors if r not in list(model._coefnames)]
    if missing and not allow_collinear:
        raise ValueError(f"regressors {missing} are collinear with the fixed effects and dropped")
    return model, n_dropped


def fit_fe(
    df: pd.DataFrame,
    y: str,
    regressors: Sequence[str],
    fe: Sequence[str] = ("pair_id", "year"),
    vcov: str = "pilot_city",
    *,
    ssc: dict | None = None,
    fixef_tol: float | None = None,
    caller: str = "fit_fe",
    allow_collinear: bool = False,
    level: float = 0.95,
) -> FitResult:
    """The one fixed-effects fitting path: ``y ~ regressors | fe`` with a named variance.

    Every estimator of the package that fits a fixed-effects regression calls this
    (:func:`fit_twfe`, :func:`se_table`, the event study, the naive placebo engine), so all
    share one warning policy (:func:`pyfixest_quiet`), one clustering vocabulary
    (:data:`VCOV_TYPES`, the names of ``Spec.cluster``) and one results type
    (:class:`FitResult`). Unlike :func:`fit_twfe` the frame is not validated: rows with
    missing values are left to pyfixest, which drops them, and the count is warned about.

    Parameters
    ----------
    df
        The data; needs ``y``, the regressors, the fixed effects and the columns of
        :data:`VCOV_COLUMNS` for ``vcov``.
    y, regressors
        Outcome and right-hand-side columns.
    fe
        Absorbed fixed effects; ``()`` for none (an intercept is then included).
    vcov
        A name of :data:`VCOV_TYPES` (see :func:`fit_twfe`).
    ssc, fixef_tol
        As in :func:`fit_twfe`.
    caller
        Name used in the warning about unused rows.
    allow_collinear
        Keep going when a regressor is dropped as collinear (its coefficient is then absent
        from the result); default raise.
    level
        Coverage of the confidence intervals (``Spec.confidence_level``).
    """
    _check_vcov(vcov)
    regressors = list(regressors)
    need = list(dict.fromkeys([y, *regressors, *fe, *VCOV_COLUMNS[vcov]]))
    need += [c for c in ("pair_id", "city_i", "city_j") if c in df.columns and c not in need]
    lacking = [c for c in need if c not in df.columns]
    if lacking:
        raise KeyError(f"{caller}: columns missing from the frame: {lacking}")
    model, n_dropped = _fit_model(
        df[need],
        y,
        regressors,
        tuple(fe),
        _PF_VCOV.get(vcov, "iid"),
        ssc,
        fixef_tol,
        caller=caller,
        allow_collinear=allow_collinear,
    )
    return _result_from_model(model, vcov, tuple(fe), n_dropped, level=level)


def _ssc_text(model, vcov: str) -> str:
    """Describe pyfixest's small-sample factor of the current variance in words."""
    factor = np.asarray(model._ssc, dtype=float).ravel()
    n, df_k = int(model._N), int(model._df_k)
    if vcov == "iid":
        return f"(N-1)/(N-df_k), N={n}, df_k={df_k} (all FE levels counted); factor {factor[0]:.6f}"
    if vcov == "hetero":
        return f"N/(N-df_k), N={n}, df_k={df_k} (all FE levels counted); factor {factor[0]:.6f}"
    g = np.atleast_1d(model._G)
    g_txt = f"G={int(g[0])}" if vcov != "twoway" else f"G=min(G_i, G_j)={int(np.min(g))}"
    return (
        f"(N-1)/(N-df_k) x G/(G-1), N={n}, df_k={df_k} (FE nested in the cluster not "
        f"counted), {g_txt}; factor {abs(factor[0]):.6f}"
    )


def _cities_of(data: pd.DataFrame) -> int:
    return int(
        pd.unique(np.concatenate([data["city_i"].to_numpy(), data["city_j"].to_numpy()])).size
    )


def _result_from_model(
    model, vcov: str, fe: Sequence[str], n_dropped: int, *, level: float = 0.95
) -> FitResult:
    """Set the variance ``vcov`` on a fitted pyfixest model and wrap it."""
    data = model._data
    names = [str(c) for c in model._coefnames]
    beta = np.asarray(model._beta_hat, dtype=float).ravel()
    if vcov == "dyadic":
        from cbec.estimators.variance import clip_psd, dyadic_vcov

        city_i = data["city_i"].to_numpy()
        city_j = data["city_j"].to_numpy()
        v = dyadic_vcov(
            np.asarray(model._X, dtype=float),
            np.asarray(model._u_hat, dtype=float).ravel(),
            city_i,
            city_j,
            bread=np.asarray(model._bread, dtype=float),
            ssc=True,
        )
        n_neg = int((np.linalg.eigvalsh(v) < 0).sum())
        if n_neg:
            warnings.warn(
                f"the dyadic variance has {n_neg} negative eigenvalue(s); they are set to zero "
                "(Cameron, Gelbach & Miller 2011, sec. 2.3)",
                UserWarning,
                stacklevel=3,
            )
            v = clip_psd(v)
        g = _cities_of(data)
        df_t = float(g - 1)
        se = np.sqrt(np.diag(v))
        t = beta / se
        p = 2.0 * stats.t.sf(np.abs(t), df_t)
        crit = stats.t.ppf(0.5 + level / 2.0, df_t)
        lo, hi = beta - crit * se, beta + crit * se
        ssc_txt = f"G/(G-1), G={g} cities; no (N-1)/(N-k) factor; factor {g / (g - 1):.6f}"
        if n_neg:
            ssc_txt += f"; {n_neg} negative eigenvalue(s) set to zero (CGM 2011)"
        n_clusters: int | None = g
    else:
        model.vcov(_PF_VCOV[vcov])
        v = np.asarray(model._vcov, dtype=float)
        se = np.asarray(model.se(), dtype=float)
        t = np.asarray(model.tstat(), dtype=float)
        p = np.asarray(model.pvalue(), dtype=float)
        ci = model.confint(alpha=1.0 - level)
        lo, hi = ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float)
        df_t = float(model._df_t)
        ssc_txt = _ssc_text(model, vcov)
        n_clusters = None if vcov in ("iid", "hetero") else int(np.min(model._G))
    idx = pd.Index(names, name="term")
    return FitResult(
        coef=pd.Series(beta, index=idx, name="coef"),
        se=pd.Series(se, index=idx, name="se"),
        vcov=pd.DataFrame(v, index=idx, columns=idx),
        tstat=pd.Series(t, index=idx, name="tstat"),
        pvalue=pd.Series(p, index=idx, name="pvalue"),
        ci_low=pd.Series(lo, index=idx, name="ci_low"),
        ci_high=pd.Series(hi, index=idx, name="ci_high"),
        nobs=int(model._N),
        n_pairs=int(data["pair_id"].nunique()) if "pair_id" in data else 0,
        n_cities=_cities_of(data) if {"city_i", "city_j"} <= set(data.columns) else 0,
        r2=float(model._r2),
        r2_within=float(model._r2_within),
        vcov_type=vcov,
        ssc=ssc_txt,
        df_resid=df_t,
        y_name=str(model._depvar),
        fe=tuple(fe),
        vcov_label=VCOV_LABELS[vcov],
        n_clusters=n_clusters,
        n_dropped=n_dropped,
    )


def fit_twfe(
    df: pd.DataFrame,
    y: str = "syn",
    treat: str = "did",
    controls: Sequence[str] = (),
    fe: Sequence[str] = ("pair_id", "year"),
    vcov: str = "pilot_city",
    *,
    ssc: dict | None = None,
    fixef_tol: float | None = None,
    level: float = 0.95,
) -> FitResult:
    """Fit the two-way fixed-effects DID ``y ~ treat + controls | pair_id + year``.

    Parameters
    ----------
    df
        Pair-year panel (see the module docstring); balanced or not.
    y, treat, controls
        Outcome, treatment dummy and control columns.
    fe
        Fixed effects absorbed by pyfixest (default pair and year).
    vcov
        Variance estimator, one of :data:`VCOV_TYPES`:

        ``"iid"``
            ``sigma^2 (X'X)^-1`` times ``(N-1)/(N-df_k)``.
        ``"hetero"``
            HC1 sandwich times ``N/(N-df_k)``.
        ``"pair"``
            CRV1 by ``pair_id`` (Liang & Zeger 1986; all years of a pair together).
        ``"pilot_city"``
            CRV1 by ``cluster_city`` (the paper's "clustered by city": the pilot city of a
            treated pair, ``city_i`` of a control pair) [default, as ``Spec.cluster``].
        ``"twoway"``
            CRV1 two-way by ``city_i`` and ``city_j``, ``V_i + V_j - V_pair`` (Cameron,
            Gelbach & Miller 2011). Pairs that share a city in *different* roles
            (``(a, b)`` and ``(b, c)``) are not clustered together; ``"dyadic"`` is.
        ``"dyadic"``
            Dyadic-robust sandwich from :func:`cbec.estimators.variance.dyadic_vcov` on the
            demeaned regressors and residuals of this fit, times ``G/(G-1)`` with ``G``
            the number of cities (no ``(N-1)/(N-k)`` factor). If the sandwich is not
            positive semi-definite its negative eigenvalues are set to zero (Cameron,
            Gelbach & Miller 2011), with a warning and a note in ``FitResult.ssc``.
        ``"province"``
            CRV1 by ``cluster_province``, the province of ``cluster_city`` (regional
            shocks correlate pairs that share no city; about 30 clusters).

        Small-sample conventions of the pyfixest-backed estimators are pyfixest 0.60's
        defaults (``pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="min")``,
        mirroring R fixest): ``df_k`` is the number of slopes plus the fixed-effect levels
        (``n_pairs + n_years - 1``), except that for clustered errors fixed effects nested
        in the cluster variable are not counted (pair FE are nested in ``pair_id``,
        ``cluster_city``, ``city_i`` and ``city_j``, so ``df_k = k + n_years``). Clustered
        variances are multiplied by ``G/(G-1)``; for two-way clustering every term uses the
        smaller ``G`` (``G_df="min"``). ``FitResult.ssc`` prints the factor applied.
    ssc
        A ``pyfixest.ssc(...)`` dict to override those defaults (not used by ``dyadic``).
    fixef_tol
        Convergence tolerance of the alternating projections (``pyfixest.MapDemeaner``;
        pyfixest's default 1e-6 when ``None``). Balanced two-way panels converge exactly
        in one sweep.
    level
        Coverage of the confidence intervals (``Spec.confidence_level``).

    Returns
    -------
    FitResult
    """
    _check_vcov(vcov)
    regressors = _check_frame(df, y, treat, controls, fe, ("pair_id", *VCOV_COLUMNS[vcov]))
    return fit_fe(
        df, y, regressors, fe, vcov, ssc=ssc, fixef_tol=fixef_tol, caller="fit_twfe", level=level
    )


def se_table(
    df: pd.DataFrame,
    y: str = "syn",
    treat: str = "did",
    controls: Sequence[str] = (),
    vcovs: Sequence[str] = ("pair", "pilot_city", "twoway", "dyadic"),
    fe: Sequence[str] = ("pair_id", "year"),
    level: float = 0.95,
) -> pd.DataFrame:
    """The treatment coefficient with its standard error under several variances.

    The fixed-effects model is fitted once; each variance is recomputed on the same
    pyfixest model (``Feols.vcov``) or, for ``dyadic``, from its stored demeaned design.

    Returns
    -------
    DataFrame
        Indexed by ``vcov`` (in the order asked), columns ``label, coef, se, tstat,
        pvalue, ci_low, ci_high, n_clusters, df, ssc``.
    """
    vcovs = list(vcovs)
    if not vcovs:
        raise ValueError("vcovs is empty")
    for v in vcovs:
        _check_vcov(v)
    extra = tuple(dict.fromkeys(c for v in vcovs for c in VCOV_COLUMNS[v]))
    regressors = _check_frame(df, y, treat, controls, fe, ("pair_id", *extra))
    cols = list(dict.fromkeys([y, *regressors, *fe, "pair_id", *extra]))
    cols += [c for c in ("city_i", "city_j") if c in df.columns and c not in cols]
    model, n_dropped = _fit_model(df[cols], y, regressors, fe, "iid", None, None)
    rows = []
    for v in vcovs:
        r = _result_from_model(model, v, fe, n_dropped, level=level)
        rows.append(
            {
                "vcov": v,
                "label": r.vcov_label,
                "coef": r.coef[treat],
                "se": r.se[treat],
                "tstat": r.tstat[treat],
                "pvalue": r.pvalue[treat],
                "ci_low": r.ci_low[treat],
                "ci_high": r.ci_high[treat],
                "n_clusters": r.n_clusters,
                "df": r.df_resid,
                "ssc": r.ssc,
            }
        )
    out = pd.DataFrame(rows).set_index("vcov")
    out["n_clusters"] = out["n_clusters"].astype("Int64")
    return out


# --------------------------------------------------------------------------- demeaning
@dataclass(frozen=True)
class FEIndex:
    """Integer codes of the fixed effects of a panel, and how to project them out.

    Attributes
    ----------
    codes
        ``(n, n_fe)`` integer codes, one column per fixed effect.
    sizes
        Number of levels of each fixed effect.
    balanced
        True for two fixed effects in which every (level, level) cell holds exactly one
        row, e.g. a balanced pair x year panel. The within transformation is then the
        closed form ``x - row mean - column mean + grand mean``.
    order
        When balanced: the row permutation that lays the data out as the
        ``sizes[0] x sizes[1]`` grid (``x[order].reshape(sizes + (-1,))``); else ``None``.
    """

    codes: np.ndarray
    sizes: tuple[int, ...]
    balanced: bool
    order: np.ndarray | None

    @classmethod
    def from_frame(cls, df: pd.DataFrame, fe: Sequence[str] = ("pair_id", "year")) -> FEIndex:
        """Factorize the fixed-effect columns ``fe`` of ``df``."""
        fe = list(fe)
        if not fe:
            raise ValueError("fe must name at least one fixed-effect column")
        missing = [c for c in fe if c not in df.columns]
        if missing:
            raise KeyError(f"fixed-effect columns missing: {missing}")
        if df[fe].isna().any().any():
            raise ValueError(f"missing values in the fixed-effect columns {fe}")
        codes, sizes = [], []
        for c in fe:
            code, uniq = pd.factorize(df[c], sort=True)
            codes.append(code.astype(np.int64))
            sizes.append(len(uniq))
        mat = np.column_stack(codes)
        balanced, order = False, None
        if len(fe) == 2 and df.shape[0] == sizes[0] * sizes[1]:
            key = mat[:, 0] * sizes[1] + mat[:, 1]
            if np.bincount(key, minlength=key.size).max() == 1:
                # every cell once: key is a permutation of 0..n-1, its inverse lays out the grid
                order = np.empty(key.size, dtype=np.int64)
                order[key] = np.arange(key.size)
                balanced = True
        return cls(codes=mat, sizes=tuple(sizes), balanced=balanced, order=order)

    @property
    def in_grid_order(self) -> bool:
        """True when the rows already are in grid order (no permutation needed)."""
        return self.order is not None and bool((self.order == np.arange(self.n)).all())

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.codes.shape[0])

    @staticmethod
    def demean_grid(a: np.ndarray) -> np.ndarray:
        """Closed-form two-way within transformation of a ``(S0, S1, ...)`` grid array."""
        row = a.mean(axis=1, keepdims=True)
        col = a.mean(axis=0, keepdims=True)
        grand = row.mean(axis=0, keepdims=True)
        out = a - row
        out -= col
        out += grand
        return out

    def demean(
        self,
        x: np.ndarray,
        method: str = "auto",
        tol: float = 1e-10,
        maxiter: int = 100_000,
    ) -> np.ndarray:
        """Project the fixed effects out of the columns of ``x`` (rows in frame order).

        Parameters
        ----------
        x
            ``(n,)`` or ``(n, m)`` array.
        method
            ``"auto"`` (closed form when the panel is balanced or there is one fixed
            effect, else alternating projections), ``"closed"`` (error if unavailable)
            or ``"alternating"`` (pyfixest's ``demean``, Gaure 2013).
        tol, maxiter
            Convergence settings of the alternating projections.
        """
        if method not in ("auto", "closed", "alternating"):
            raise ValueError(f"method must be 'auto', 'closed' or 'alternating', got {method!r}")
        arr = np.asarray(x, dtype=np.float64)
        vec = arr.ndim == 1
        arr = arr.reshape(arr.shape[0], -1)
        if arr.shape[0] != self.n:
            raise ValueError(f"x has {arr.shape[0]} rows, the panel has {self.n}")
        one_fe = len(self.sizes) == 1
        closed = self.balanced or one_fe
        if method == "closed" and not closed:
            raise ValueError("the closed form needs one fixed effect or a balanced two-way panel")
        if method != "alternating" and one_fe:
            g = self.codes[:, 0]
            cnt = np.bincount(g, minlength=self.sizes[0]).astype(float)
            means = (
                np.column_stack(
                    [
                        np.bincount(g, weights=arr[:, j], minlength=self.sizes[0])
                        for j in range(arr.shape[1])
                    ]
                )
                / cnt[:, None]
            )
            out = arr - means[g]
        elif method != "alternating" and self.balanced:
            shape = (self.sizes[0], self.sizes[1], arr.shape[1])
            if self.in_grid_order:
                out = self.demean_grid(arr.reshape(shape)).reshape(arr.shape)
            else:
                out = np.empty_like(arr)
                out[self.order] = self.demean_grid(arr[self.order].reshape(shape)).reshape(
                    arr.shape
                )
        else:
            from pyfixest.estimation import demean as pf_demean

            out, ok = pf_demean(
                np.ascontiguousarray(arr),
                self.codes.astype(np.uint64),
                np.ones(self.n),
                tol=tol,
                maxiter=maxiter,
            )
            if not ok:
                raise RuntimeError(f"alternating projections did not converge in {maxiter} sweeps")
            out = np.asarray(out)
        return out[:, 0] if vec else out


def demean(
    df: pd.DataFrame,
    columns: Sequence[str],
    fe: Sequence[str] = ("pair_id", "year"),
    method: str = "auto",
) -> np.ndarray:
    """Within-transform ``columns`` of ``df`` by the fixed effects ``fe``.

    Exact closed form ``x - pair mean - year mean + grand mean`` when the panel is balanced
    in (pair, year) (or group demeaning with one fixed effect); otherwise pyfixest's
    alternating projections (Gaure 2013) to tolerance 1e-10.

    Returns
    -------
    ndarray
        ``(n, len(columns))`` in the row order of ``df``.
    """
    columns = list(columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"columns missing: {missing}")
    values = df[columns].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"missing values in {columns}; demeaning needs complete columns")
    return FEIndex.from_frame(df, fe).demean(values, method=method)
