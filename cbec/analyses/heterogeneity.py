r"""Heterogeneity of the DID effect across groups of treated pairs (chapter 4).

The paper reports that the radiation effect differs with the pair's regional distribution
and with the partner city's human capital, financial development and information
infrastructure. This module builds the groups, estimates group effects two ways, tests
whether they are equal and corrects for testing many differences at once.

Groups (:func:`group_labels`)
    Every *treated* pair gets one label per dimension: ``region`` is the pilot's region by
    the partner's (``Spec.het_region``; e.g. ``east-central``), and each moderator of
    ``Spec.het_moderators`` is ``low`` or ``high``: the partner city's pre-designation value
    (``Spec.het_pre``) below or above the median (``Spec.het_median_over``). Pre-designation
    values cannot be moved by the policy, so no pair changes group because it was treated.
    A pair whose partner lacks the value gets ``n/a``: it keeps its own coefficient in the
    model but enters no test. Control pairs carry no label: they are the common control
    group of every group.

Estimates (:func:`interaction_model`, :func:`split_samples`)
    One regression ``y ~ sum_g DID x 1[g] + X | pair + year`` (all groups share the control
    pairs, the year effects and the control coefficients), and, side by side, one DID per
    group on the control pairs plus that group's treated pairs. Both are fitted by the
    Frisch-Waugh-Lovell theorem on the closed-form within transformation
    (:func:`fit_fwl`), with the clusterings of :func:`cluster_vcov` (the small-sample
    conventions of pyfixest/fixest, tested against :func:`cbec.estimators.fe.fit_twfe`) and
    the dyadic-robust variance of :func:`cbec.estimators.variance.dyadic_vcov`.

Tests of equal effects
    :func:`wald_equal`: the Wald test of ``b_1 = ... = b_G`` under a chosen variance, as an
    ``F(G-1, df)`` statistic. :func:`permutation_test`: the group labels of the treated
    pairs are permuted jointly across pairs (every dimension with the same permutation), the
    interaction model is re-estimated for every draw by updating a few per-group sums
    (nothing of size ``n`` is rebuilt per draw), and the homoskedastic F statistic of the
    draws gives the permutation p-value. It assumes that, under the null, labels are
    exchangeable across treated pairs; it makes no assumption on the error distribution
    for validity under that sharp null, but ignores that pairs sharing a partner share its
    label. :func:`permutation_naive` refits every draw with pyfixest (the reference).

Multiple comparisons (:func:`holm`, :func:`romano_wolf`)
    Contrasts of every group with its dimension's reference group: Holm's step-down on the
    analytic p-values, and Romano & Wolf's (2005) step-down on the joint permutation
    distribution of the studentized contrasts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cbec.estimators.fe import FEIndex
from cbec.estimators.variance import clip_psd, dyadic_vcov
from cbec.study.pipeline import Study

#: Label of a pair whose partner lacks the moderator value.
NA_LABEL = "n/a"

#: Fixed effects of every fit in this module.
FE: tuple[str, str] = ("pair_id", "year")

#: Variances :func:`cluster_vcov` computes.
VCOVS: tuple[str, ...] = ("pair", "pilot_city", "twoway", "dyadic")


@dataclass(frozen=True)
class Moderator:
    """A partner-city moderator: what it measures, where it comes from, what to supply."""

    label: str
    measure: str
    twin_source: str
    real_source: str


#: The moderators of the paper and the measures the book uses [open: the paper does not
#: define them]. ``real_source`` says what a user supplies when the yearbook panel lacks it.
MODERATORS: dict[str, Moderator] = {
    "human_capital": Moderator(
        "Human capital",
        "college students per 10,000 persons",
        "simulated from the untreated development level (cbec.data.twin)",
        "China City Statistical Yearbook, 普通高等学校在校学生数 over resident population; "
        "or census education shares (population with college education, 2010 census)",
    ),
    "fin_dev": Moderator(
        "Financial development",
        "loans plus deposits over GDP",
        "simulated from the untreated development level (cbec.data.twin)",
        "China City Statistical Yearbook, 年末金融机构存款余额 + 贷款余额 over GDP",
    ),
    "info_infra": Moderator(
        "Information infrastructure",
        "internet broadband subscribers per 100 persons",
        "simulated from the untreated development level (cbec.data.twin)",
        "China City Statistical Yearbook, 互联网宽带接入用户数 over resident population",
    ),
}

#: Source of the regional classification.
REGION_SOURCE = "data/reference/cities.csv (NBS regions of the city's province)"


# --------------------------------------------------------------------------- groups
def first_designation(study: Study) -> int:
    """Earliest treatment year among the study's pilot cities."""
    u = study.universe
    years = pd.to_numeric(u.loc[u["pilot"].astype(bool), "treat_year"], errors="coerce")
    return int(years.min())


def pre_values(study: Study, variable: str) -> pd.Series:
    """Pre-designation value of a city variable, by ``city_id`` (``Spec.het_pre``).

    ``"pre_mean"``: mean over the window years before the first designation (missing
    years skipped); ``"first_year"``: the value in ``spec.first_year``. All-NaN when the
    data lack the variable.
    """
    spec = study.spec
    ids = study.universe["city_id"]
    data = study.city.data
    if variable not in data.columns:
        return pd.Series(np.nan, index=pd.Index(ids, name="city_id"), name=variable)
    last = spec.first_year if spec.het_pre == "first_year" else first_designation(study) - 1
    sub = data[(data["year"] >= spec.first_year) & (data["year"] <= last)]
    out = sub.groupby("city_id")[variable].mean().reindex(ids)
    out.name = variable
    return out


@dataclass
class Groups:
    """Group labels of the treated pairs and what each dimension rests on.

    Attributes
    ----------
    labels
        One row per treated pair (index ``pair_id``), one string column per available
        dimension.
    measures
        One row per dimension: ``dimension, label, measure, source, status, threshold,
        n_pairs_labelled, supply`` (``status`` is ``available`` or ``unavailable``).
    reference
        The reference group of each dimension (the contrasts' baseline).
    """

    labels: pd.DataFrame
    measures: pd.DataFrame
    reference: dict[str, str] = field(default_factory=dict)

    @property
    def dimensions(self) -> list[str]:
        """Available dimensions, in order."""
        return list(self.labels.columns)


def _pairs(study: Study) -> pd.DataFrame:
    p = study.panel
    return p.drop_duplicates("pair_id").set_index("pair_id")


def group_labels(study: Study) -> Groups:
    """Label every treated pair by region pair and by each moderator (see module doc)."""
    spec = study.spec
    pairs = _pairs(study)
    tr = pairs[pairs["treated"] == 1]
    u = study.universe.set_index("city_id")
    pilot = tr["pilot_city"].astype(np.int64).to_numpy()
    partner = tr["partner_city"].astype(np.int64).to_numpy()
    reg = u[spec.het_region]
    labels = pd.DataFrame(index=tr.index)
    labels["region"] = [f"{a}-{b}" for a, b in zip(reg.loc[pilot], reg.loc[partner], strict=True)]
    rows = [
        {
            "dimension": "region",
            "label": "Regional distribution (pilot-partner)",
            "measure": f"pilot's region x partner's region ({spec.het_region})",
            "source": REGION_SOURCE,
            "status": "available",
            "threshold": np.nan,
            "n_pairs_labelled": len(tr),
            "supply": "",
        }
    ]
    reference = {"region": str(labels["region"].value_counts().idxmax())}
    for var in spec.het_moderators:
        mod = MODERATORS.get(var, Moderator(var, var, "twin variable", f"a city variable {var}"))
        values = pre_values(study, var)
        v = values.reindex(partner).to_numpy(dtype=float)
        ok = np.isfinite(v)
        if not ok.any():
            rows.append(
                {
                    "dimension": var,
                    "label": mod.label,
                    "measure": mod.measure,
                    "source": "not in the data",
                    "status": "unavailable",
                    "threshold": np.nan,
                    "n_pairs_labelled": 0,
                    "supply": mod.real_source,
                }
            )
            continue
        if spec.het_median_over == "pairs":
            cut = float(np.median(v[ok]))
        else:
            cut = float(np.nanmedian(values.to_numpy(dtype=float)))
        lab = np.where(~ok, NA_LABEL, np.where(v > cut, "high", "low"))
        labels[var] = lab
        reference[var] = "low"
        src = mod.twin_source if study.is_synthetic else "user's yearbook panel"
        rows.append(
            {
                "dimension": var,
                "label": mod.label,
                "measure": f"partner's {mod.measure}, pre-designation ({spec.het_pre})",
                "source": src,
                "status": "available",
                "threshold": cut,
                "n_pairs_labelled": int(ok.sum()),
                "supply": "" if ok.all() else f"{int((~ok).sum())} partners lack it",
            }
        )
    return Groups(labels=labels, measures=pd.DataFrame(rows), reference=reference)


def group_order(labels: pd.Series, reference: str | None = None) -> list[str]:
    """Groups of one dimension: the reference first, then by size, ``n/a`` last."""
    counts = labels.value_counts()
    names = [g for g in counts.index if g != NA_LABEL]
    if reference in names:
        names.remove(reference)
        names.insert(0, reference)
    if NA_LABEL in counts.index:
        names.append(NA_LABEL)
    return [str(g) for g in names]


# --------------------------------------------------------------------------- fitting
@dataclass
class FWLFit:
    """An OLS fit after the two-way within transformation.

    ``coef``/``vcov`` are indexed by ``names``; ``x_dm`` and ``resid`` are the demeaned
    regressors and residuals (rows in frame order); ``df_resid`` is the t/F denominator
    degrees of freedom of the chosen variance.
    """

    names: list[str]
    coef: np.ndarray
    vcov: np.ndarray
    x_dm: np.ndarray
    resid: np.ndarray
    bread: np.ndarray
    nobs: int
    n_pairs: int
    n_years: int
    vcov_type: str
    df_resid: float
    n_clusters: int

    @property
    def se(self) -> np.ndarray:
        """Standard errors."""
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))

    def table(self) -> pd.DataFrame:
        """``coef, se, tstat, pvalue`` by term (t with ``df_resid`` degrees of freedom)."""
        se = self.se
        t = self.coef / se
        return pd.DataFrame(
            {
                "coef": self.coef,
                "se": se,
                "tstat": t,
                "pvalue": 2.0 * stats.t.sf(np.abs(t), self.df_resid),
            },
            index=pd.Index(self.names, name="term"),
        )


def _crv(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Cluster meat ``sum_g s_g s_g'`` with ``s_g`` the score sums of cluster ``g``."""
    inv, uniq = pd.factorize(codes)
    sums = np.column_stack(
        [
            np.bincount(inv, weights=scores[:, j], minlength=len(uniq))
            for j in range(scores.shape[1])
        ]
    )
    return sums.T @ sums


def cluster_vcov(
    x_dm: np.ndarray,
    resid: np.ndarray,
    df: pd.DataFrame,
    kind: str,
    n_fe_nonnested: int,
    bread: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int]:
    """Variance of FWL coefficients under a clustering; returns ``(V, df_t, G)``.

    ``pair``/``pilot_city``: CRV1 by ``pair_id``/``cluster_city`` times
    ``(N-1)/(N-K) x G/(G-1)`` with ``K`` the slopes plus the fixed-effect levels not nested
    in the cluster (``n_fe_nonnested``; the year effects). ``twoway``: ``V_i + V_j -
    V_{ij}`` by ``city_i``, ``city_j`` and their intersection (the pair), every term with the
    smaller ``G`` (fixest's ``G_df="min"``). ``dyadic``:
    :func:`cbec.estimators.variance.dyadic_vcov` with ``G/(G-1)``, ``G`` the cities, no
    ``(N-1)/(N-K)``; negative eigenvalues clipped. These are the conventions of
    :func:`cbec.estimators.fe.fit_twfe` (the tests check them against it).
    """
    x = np.asarray(x_dm, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n, k = x.shape
    if bread is None:
        bread = np.linalg.inv(x.T @ x)
    ci, cj = df["city_i"].to_numpy(), df["city_j"].to_numpy()
    if kind == "dyadic":
        v = dyadic_vcov(x, resid, ci, cj, bread=bread, ssc=True)
        if (np.linalg.eigvalsh(v) < 0).any():
            v = clip_psd(v)
        g = int(pd.unique(np.concatenate([ci, cj])).size)
        return v, float(g - 1), g
    scores = x * np.asarray(resid, dtype=float)[:, None]
    small = (n - 1) / (n - k - n_fe_nonnested)
    if kind in ("pair", "pilot_city"):
        codes = df["pair_id" if kind == "pair" else "cluster_city"].to_numpy()
        g = int(pd.unique(codes).size)
        v = bread @ _crv(scores, codes) @ bread * small * g / (g - 1)
        return (v + v.T) / 2, float(g - 1), g
    if kind == "twoway":
        gi, gj = int(pd.unique(ci).size), int(pd.unique(cj).size)
        g = min(gi, gj)
        meat = _crv(scores, ci) + _crv(scores, cj) - _crv(scores, df["pair_id"].to_numpy())
        v = bread @ meat @ bread * small * g / (g - 1)
        v = (v + v.T) / 2
        if (np.linalg.eigvalsh(v) < 0).any():
            v = clip_psd(v)
        return v, float(g - 1), g
    raise ValueError(f"vcov must be one of {VCOVS}, got {kind!r}")


def fit_fwl(
    df: pd.DataFrame,
    y: str,
    regressors: Sequence[str],
    controls: Sequence[str] = (),
    vcov: str = "pilot_city",
) -> FWLFit:
    """OLS of ``y`` on ``regressors + controls`` with pair and year fixed effects.

    The panel must be balanced in (pair, year) (whole pairs are kept by every subset in
    this module), so the within transformation is the exact closed form.
    """
    cols = [y, *regressors, *controls]
    values = df[cols].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"missing or infinite values in {cols}")
    fei = FEIndex.from_frame(df, FE)
    if not fei.balanced:
        raise ValueError("fit_fwl needs a balanced pair x year panel")
    dm = fei.demean(values)
    y_dm, x_dm = dm[:, 0], dm[:, 1:]
    xtx = x_dm.T @ x_dm
    if np.linalg.matrix_rank(xtx) < xtx.shape[0]:
        raise ValueError(f"regressors {cols[1:]} are collinear after the fixed effects")
    bread = np.linalg.inv(xtx)
    beta = bread @ (x_dm.T @ y_dm)
    resid = y_dm - x_dm @ beta
    v, df_t, g = cluster_vcov(x_dm, resid, df, vcov, fei.sizes[1], bread)
    return FWLFit(
        names=[*regressors, *controls],
        coef=beta,
        vcov=v,
        x_dm=x_dm,
        resid=resid,
        bread=bread,
        nobs=fei.n,
        n_pairs=fei.sizes[0],
        n_years=fei.sizes[1],
        vcov_type=vcov,
        df_resid=df_t,
        n_clusters=g,
    )


def group_columns(
    panel: pd.DataFrame, labels: pd.Series, order: Sequence[str], treat: str = "did"
) -> tuple[np.ndarray, list[str]]:
    """``(n, G)`` matrix ``treat x 1[group(pair) = g]`` and the column names ``did_g0..``."""
    lab = labels.reindex(panel["pair_id"].to_numpy()).to_numpy()
    d = panel[treat].to_numpy(dtype=float)
    mat = np.column_stack([d * (lab == g) for g in order])
    return mat, [f"did_g{k}" for k in range(len(order))]


def wald_equal(coef: np.ndarray, vcov: np.ndarray, df: float) -> dict[str, float]:
    """Wald test of equal coefficients ``b_1 = ... = b_G`` (``G >= 2``).

    ``W = (Rb)'(RVR')^{-1}(Rb)`` with ``R`` the ``G-1`` successive differences; reported as
    ``F = W/(G-1)`` with ``F(G-1, df)`` and ``chi2(G-1)`` p-values.
    """
    b = np.asarray(coef, dtype=float)
    g = b.size
    if g < 2:
        return {"W": np.nan, "F": np.nan, "q": 0, "p_F": np.nan, "p_chi2": np.nan}
    r = np.zeros((g - 1, g))
    r[np.arange(g - 1), np.arange(g - 1)] = -1.0
    r[np.arange(g - 1), np.arange(1, g)] = 1.0
    rb = r @ b
    w = float(rb @ np.linalg.pinv(r @ vcov @ r.T) @ rb)
    q = g - 1
    return {
        "W": w,
        "F": w / q,
        "q": q,
        "p_F": float(stats.f.sf(w / q, q, df)),
        "p_chi2": float(stats.chi2.sf(w, q)),
    }


def group_truth(panel: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """True effect of each group: mean ``tau`` over its treated post-designation pair-years."""
    if "tau" not in panel.columns:
        return pd.Series(dtype=float)
    post = panel[panel["did"] == 1]
    lab = labels.reindex(post["pair_id"].to_numpy()).to_numpy()
    return post["tau"].groupby(lab).mean()


@dataclass
class DimensionResult:
    """Estimates of one dimension: the group table and the interaction fit."""

    dimension: str
    table: pd.DataFrame
    fit: FWLFit
    order: list[str]


def interaction_model(
    study: Study,
    groups: Groups,
    dimension: str,
    *,
    y: str = "syn",
    controls: Sequence[str] | None = None,
    vcov: str | None = None,
    split: bool = True,
) -> DimensionResult:
    """Interaction model and split samples of one dimension, side by side.

    Returns a table with one row per group: ``group, n_pairs, coef, se, p`` (interaction
    model), ``split_coef, split_se, split_p`` (split sample: control pairs plus the group's
    treated pairs), ``n_treated_obs`` (treated post-designation pair-years) and, on the
    twin, ``truth`` (:func:`group_truth`).
    """
    spec = study.spec
    controls = tuple(spec.controls if controls is None else controls)
    vcov = spec.cluster if vcov is None else vcov
    panel = study.panel
    labels = groups.labels[dimension]
    order = group_order(labels, groups.reference.get(dimension))
    mat, names = group_columns(panel, labels, order)
    keep = mat.sum(axis=0) > 0
    order = [g for g, k in zip(order, keep, strict=True) if k]
    mat, names = mat[:, keep], [n for n, k in zip(names, keep, strict=True) if k]
    frame = panel[["pair_id", "year", "city_i", "city_j", "cluster_city", y, *controls]].copy()
    for k, name in enumerate(names):
        frame[name] = mat[:, k]
    fit = fit_fwl(frame, y, names, controls, vcov)
    tab = fit.table().iloc[: len(names)]
    n_pairs = labels.value_counts()
    rows = []
    truth = group_truth(panel, labels)
    pair_lab = labels.reindex(panel["pair_id"].to_numpy()).to_numpy()
    truth_did = np.full(len(order), np.nan)
    if "tau" in panel.columns:
        frame["tau"] = panel["tau"].to_numpy()
        truth_did = fit_fwl(frame, "tau", names, controls, "pair").coef[: len(names)]
    for k, g in enumerate(order):
        row = {
            "dimension": dimension,
            "group": g,
            "n_pairs": int(n_pairs.get(g, 0)),
            "n_treated_obs": int(mat[:, k].sum()),
            "coef": float(tab["coef"].iloc[k]),
            "se": float(tab["se"].iloc[k]),
            "p": float(tab["pvalue"].iloc[k]),
        }
        if split:
            sub = panel[(panel["treated"].to_numpy() == 0) | (pair_lab == g)]
            sfit = fit_fwl(sub, y, ["did"], controls, vcov)
            st = sfit.table().iloc[0]
            row.update(split_coef=st["coef"], split_se=st["se"], split_p=st["pvalue"])
        row["truth"] = float(truth.get(g, np.nan)) if len(truth) else np.nan
        row["truth_did"] = float(truth_did[k])
        rows.append(row)
    return DimensionResult(dimension, pd.DataFrame(rows), fit, order)


def wald_table(
    study: Study,
    groups: Groups,
    dimension: str,
    vcovs: Sequence[str] = VCOVS,
    *,
    y: str = "syn",
    controls: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Wald test of equal effects across the (known) groups of a dimension, per variance."""
    spec = study.spec
    controls = tuple(spec.controls if controls is None else controls)
    res = interaction_model(study, groups, dimension, y=y, controls=controls, split=False,
                            vcov=vcovs[0])  # fmt: skip
    fit = res.fit
    known = [k for k, g in enumerate(res.order) if g != NA_LABEL]
    fei_years = fit.n_years
    rows = []
    frame = study.panel
    for v in vcovs:
        vc, df_t, g = cluster_vcov(fit.x_dm, fit.resid, frame, v, fei_years, fit.bread)
        w = wald_equal(fit.coef[known], vc[np.ix_(known, known)], df_t)
        rows.append({"dimension": dimension, "vcov": v, "clusters": g, "df": df_t, **w})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- permutation
@dataclass
class PermutationResult:
    """Joint permutation test of equal group effects, every dimension at once.

    Attributes
    ----------
    stats
        ``(n_draws, n_dims)`` homoskedastic F statistics of the draws.
    observed
        ``(n_dims,)`` observed F statistics.
    p_values
        ``(n_dims,)`` permutation p-values ``(1 + #{F_b >= F}) / (1 + B)``.
    contrast_t
        ``(n_draws, n_contrasts)`` studentized contrasts (group minus reference) of the
        draws, for :func:`romano_wolf`; ``contrast_obs`` the observed ones and
        ``contrasts`` their ``(dimension, group)`` names.
    dimensions, n_draws, seed, method
    """

    stats: np.ndarray
    observed: np.ndarray
    p_values: np.ndarray
    contrast_t: np.ndarray
    contrast_obs: np.ndarray
    contrasts: list[tuple[str, str]]
    dimensions: list[str]
    n_draws: int
    seed: int
    method: str


class _PermEngine:
    """Per-group sums of the interaction model's normal equations (balanced panel).

    With ``D_g = did x 1[g]`` and the closed-form two-way within transformation ``M``:
    ``D_g'y_r = sum_{p in g} w_p`` (``w_p = sum_t did_pt y_r,pt``), ``Z'D_g = sum_{p in g}
    v_p`` and ``D_g'M D_h = 1[g=h] sum_{p in g}(n_p - n_p^2/T) - S_g'S_h/P + N_g N_h/n``
    with ``n_p`` the pair's treated years, ``S_g`` the per-year treated counts of group
    ``g`` and ``N_g = sum n_p``. The DID of a pair is a step (0 before its start year
    index ``k_p``, 1 from it on), so ``S_g``, ``N_g`` and the diagonal term follow from the
    histogram of ``k_p`` by group: a draw costs one unweighted and ``1 + q`` weighted
    ``bincount`` passes over the treated pairs, nothing of size ``n``.
    """

    def __init__(self, panel: pd.DataFrame, y: str, controls: Sequence[str]) -> None:
        fei = FEIndex.from_frame(panel, FE)
        if not fei.balanced:
            raise ValueError("the permutation engine needs a balanced pair x year panel")
        n_pair, n_year = fei.sizes
        cols = [y, *controls]
        values = panel[cols].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"missing or infinite values in {cols}")
        dm = fei.demean(values)
        y_dm, z = dm[:, 0], dm[:, 1:]
        q = z.shape[1]
        if q:
            ztz_inv = np.linalg.inv(z.T @ z)
            y_r = y_dm - z @ (ztz_inv @ (z.T @ y_dm))
        else:
            ztz_inv, y_r = np.zeros((0, 0)), y_dm
        order = fei.order
        d = panel["did"].to_numpy(dtype=float)[order].reshape(n_pair, n_year)
        yg = y_r[order].reshape(n_pair, n_year)
        zg = z[order].reshape(n_pair, n_year, q)
        pair_ids = panel["pair_id"].to_numpy()[order].reshape(n_pair, n_year)[:, 0]
        self.treated = d.sum(axis=1) > 0
        self.pair_ids = pair_ids[self.treated]
        dt = d[self.treated]
        n_p = dt.sum(axis=1)
        k_p = (n_year - n_p).astype(np.int64)
        if not (dt == (np.arange(n_year)[None, :] >= k_p[:, None])).all():
            raise ValueError("the DID of every treated pair must be a step (0 then 1)")
        self.kvals = np.unique(k_p)
        # per treated pair: indicators of its start index, w_p, v_p (q)
        self.features = np.column_stack(
            [
                (k_p[:, None] == self.kvals[None, :]).astype(np.float64),
                (dt * yg[self.treated]).sum(axis=1),
                np.einsum("pt,ptq->pq", dt, zg[self.treated]),
            ]
        )
        self.featuresT = np.ascontiguousarray(self.features.T)
        self.T, self.P, self.n, self.q = n_year, n_pair, n_pair * n_year, q
        self.ztz_inv = ztz_inv
        self.yy = float(y_r @ y_r)

    def permuted(self, perms: np.ndarray) -> np.ndarray:
        """Features of the pairs that receive each label: ``(m, B, P_t)`` for ``(B, P_t)``."""
        out = np.empty((self.featuresT.shape[0], *perms.shape))
        for f, row in enumerate(self.featuresT):
            np.take(row, perms, out=out[f])
        return out

    def sums(self, fperm: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        """Per-group feature sums ``(B, G, m)``: ``sum_j 1[c0_j = g] F[perm_b[j]]``."""
        m, b, pt = fperm.shape
        out = fperm.reshape(m * b, pt) @ onehot  # (m*B, G)
        return out.reshape(m, b, -1).transpose(1, 2, 0)

    def solve(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients ``(B, G)`` and homoskedastic variances ``(B, G, G)`` from the sums."""
        t, nk = self.T, self.kvals.size
        hist = sums[:, :, :nk]  # pairs of group g starting at each k
        n_t = (t - self.kvals).astype(np.float64)  # treated years of a pair starting at k
        step = (np.arange(t)[None, :] >= self.kvals[:, None]).astype(np.float64)  # (K, T)
        s = hist @ step  # (B, G, T): pairs of g treated in year t
        n_g = hist @ n_t
        diag = hist @ (n_t - n_t**2 / t)
        w = sums[:, :, nk]
        c = sums[:, :, nk + 1 :]
        dtd = -np.einsum("bgt,bht->bgh", s, s) / self.P + n_g[:, :, None] * n_g[:, None, :] / self.n
        g = dtd.shape[1]
        dtd[:, np.arange(g), np.arange(g)] += diag
        if self.q:
            dtd -= np.einsum("bgq,qr,bhr->bgh", c, self.ztz_inv, c)
        inv = np.linalg.inv(dtd)
        coef = np.einsum("bgh,bh->bg", inv, w)
        rss = self.yy - np.einsum("bg,bg->b", coef, w)
        dof = self.n - self.P - self.T + 1 - g - self.q
        return coef, inv * (rss / dof)[:, None, None]


def _f_stat(coef: np.ndarray, var: np.ndarray, known: int) -> np.ndarray:
    """Homoskedastic F of equal effects among the first ``known`` groups, per draw."""
    if known < 2:
        return np.full(coef.shape[0], np.nan)
    r = np.zeros((known - 1, coef.shape[1]))
    r[np.arange(known - 1), np.arange(known - 1)] = -1.0
    r[np.arange(known - 1), np.arange(1, known)] = 1.0
    rb = coef @ r.T
    rvr = np.einsum("ig,bgh,jh->bij", r, var, r)
    return np.einsum("bi,bi->b", rb, np.linalg.solve(rvr, rb[:, :, None])[:, :, 0]) / (known - 1)


def _contrast_t(coef: np.ndarray, var: np.ndarray, known: int) -> np.ndarray:
    """Studentized contrasts ``(b_g - b_0)/se`` for groups ``1..known-1``, per draw."""
    k = np.arange(1, known)
    diff = coef[:, k] - coef[:, :1]
    v = var[:, k, k] + var[:, :1, 0] - 2 * var[:, k, 0]
    return diff / np.sqrt(v)


def _codes(groups: Groups, pair_ids: np.ndarray) -> tuple[list[np.ndarray], list[list[str]]]:
    codes, orders = [], []
    for dim in groups.dimensions:
        lab = groups.labels[dim]
        order = group_order(lab, groups.reference.get(dim))
        m = {g: k for k, g in enumerate(order)}
        codes.append(lab.reindex(pair_ids).map(m).to_numpy(dtype=np.int64))
        orders.append(order)
    return codes, orders


def draw_permutations(seed: int, n_draws: int, n_pairs: int) -> np.ndarray:
    """``(n_draws, n_pairs)`` independent uniform permutations of the treated pairs.

    In draw ``b`` pair ``perm_b[j]`` receives the labels of pair ``j`` (every dimension).
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_pairs) for _ in range(n_draws)])


def permutation_test(
    study: Study,
    groups: Groups,
    n_draws: int,
    seed: int,
    *,
    y: str = "syn",
    controls: Sequence[str] | None = None,
    block_size: int = 100,
) -> PermutationResult:
    """Permutation test of equal effects for every dimension (fast FWL engine).

    Draw ``b`` permutes the treated pairs (:func:`draw_permutations`): pair ``perm_b[j]``
    receives the labels of pair ``j`` in every dimension at once, so the draws give the joint
    null distribution that :func:`romano_wolf` needs. The statistic is the homoskedastic
    F of equal effects among the known groups (``n/a`` pairs keep a coefficient but are not
    tested). See :class:`_PermEngine` for the algebra.
    """
    controls = tuple(study.spec.controls if controls is None else controls)
    eng = _PermEngine(study.panel, y, controls)
    codes0, orders = _codes(groups, eng.pair_ids)
    perms = draw_permutations(seed, n_draws, eng.pair_ids.size)
    dims = groups.dimensions
    onehots = [
        (c0[:, None] == np.arange(len(o))[None, :]).astype(np.float64)
        for c0, o in zip(codes0, orders, strict=True)
    ]
    knowns = [sum(1 for g in o if g != NA_LABEL) for o in orders]
    stat = np.empty((n_draws, len(dims)))
    obs = np.empty(len(dims))
    contrasts: list[tuple[str, str]] = []
    t_obs_parts = []
    t_draw_parts = [np.empty((n_draws, max(k - 1, 0))) for k in knowns]
    ident = eng.permuted(np.arange(eng.pair_ids.size)[None, :])
    for d in range(len(dims)):
        coef, var = eng.solve(eng.sums(ident, onehots[d]))
        obs[d] = _f_stat(coef, var, knowns[d])[0]
        t_obs_parts.append(_contrast_t(coef, var, knowns[d])[0])
        contrasts += [(dims[d], g) for g in orders[d][1 : knowns[d]]]
    for start in range(0, n_draws, block_size):
        fperm = eng.permuted(perms[start : start + block_size])
        stop = start + fperm.shape[1]
        for d in range(len(dims)):
            cb, vb = eng.solve(eng.sums(fperm, onehots[d]))
            stat[start:stop, d] = _f_stat(cb, vb, knowns[d])
            t_draw_parts[d][start:stop] = _contrast_t(cb, vb, knowns[d])
    with np.errstate(invalid="ignore"):
        p = (1.0 + (stat >= obs[None, :]).sum(axis=0)) / (1.0 + n_draws)
    p = np.where(np.isfinite(obs), p, np.nan)
    return PermutationResult(
        stats=stat,
        observed=obs,
        p_values=p,
        contrast_t=np.column_stack(t_draw_parts) if t_draw_parts else np.zeros((n_draws, 0)),
        contrast_obs=np.concatenate(t_obs_parts) if t_obs_parts else np.zeros(0),
        contrasts=contrasts,
        dimensions=dims,
        n_draws=int(n_draws),
        seed=int(seed),
        method="fwl-group-sums",
    )


def permutation_naive(
    study: Study,
    groups: Groups,
    n_draws: int,
    seed: int,
    *,
    y: str = "syn",
    controls: Sequence[str] | None = None,
) -> PermutationResult:
    """Reference engine: one pyfixest ``feols`` per draw and dimension (slow; tests, bench).

    Same draws as :func:`permutation_test`; the F statistic is computed from pyfixest's
    coefficients, residuals and ``(X'X)^{-1}`` with the same degrees of freedom.
    """
    import pyfixest as pf

    controls = tuple(study.spec.controls if controls is None else controls)
    panel = study.panel
    pairs = _pairs(study)
    tr_ids = np.sort(pairs.index[pairs["treated"].to_numpy() == 1].to_numpy())
    codes0, orders = _codes(groups, tr_ids)
    perms = draw_permutations(seed, n_draws, tr_ids.size)
    n_pair, n_year = panel["pair_id"].nunique(), panel["year"].nunique()
    base = panel[["pair_id", "year", y, "did", *controls]].copy()
    row_pos = pd.Series(np.arange(tr_ids.size), index=tr_ids)
    pos = row_pos.reindex(base["pair_id"].to_numpy()).to_numpy()
    is_tr = np.isfinite(pos)
    pos_i = np.where(is_tr, pos, 0).astype(np.int64)

    def f_of(codes: np.ndarray, order: list[str]) -> tuple[float, np.ndarray]:
        known = sum(1 for g in order if g != NA_LABEL)
        lab = np.where(is_tr, codes[pos_i], -1)
        frame = base.copy()
        names = []
        for k in range(len(order)):
            frame[f"g{k}"] = frame["did"].to_numpy() * (lab == k)
            names.append(f"g{k}")
        fml = f"{y} ~ {' + '.join([*names, *controls])} | pair_id + year"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = pf.feols(fml, data=frame, demeaner=pf.MapDemeaner(fixef_tol=1e-10))
        coef = np.asarray(m._beta_hat, dtype=float).ravel()
        u = np.asarray(m._u_hat, dtype=float).ravel()
        bread = np.asarray(m._bread, dtype=float)
        g = len(order)
        dof = n_pair * n_year - n_pair - n_year + 1 - g - len(controls)
        var = bread * (u @ u / dof)
        cb, vb = coef[None, :g], var[None, :g, :g]
        return float(_f_stat(cb, vb, known)[0]), _contrast_t(cb, vb, known)[0]

    dims = groups.dimensions
    stat = np.empty((n_draws, len(dims)))
    obs = np.empty(len(dims))
    t_obs, t_draw, contrasts = [], [], []
    for d, (c0, order) in enumerate(zip(codes0, orders, strict=True)):
        obs[d], t0 = f_of(c0, order)
        t_obs.append(t0)
        known = sum(1 for g in order if g != NA_LABEL)
        contrasts += [(dims[d], g) for g in order[1:known]]
        td = np.empty((n_draws, t0.size))
        for b in range(n_draws):
            lab_b = np.empty_like(c0)
            lab_b[perms[b]] = c0
            stat[b, d], td[b] = f_of(lab_b, order)
        t_draw.append(td)
    p = (1.0 + (stat >= obs[None, :]).sum(axis=0)) / (1.0 + n_draws)
    return PermutationResult(
        stat, obs, p, np.column_stack(t_draw), np.concatenate(t_obs), contrasts, dims,
        int(n_draws), int(seed), "pyfixest-feols",
    )  # fmt: skip


# --------------------------------------------------------------------------- multiplicity
def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values (NaN entries stay NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def romano_wolf(t_obs: np.ndarray, t_draws: np.ndarray) -> np.ndarray:
    """Romano & Wolf (2005) step-down adjusted p-values from a joint null distribution.

    ``t_obs`` ``(m,)`` observed statistics, ``t_draws`` ``(B, m)`` their joint draws under
    the null (here: permutations). Two-sided on ``|t|``: hypotheses are ordered by
    ``|t_obs|`` from the largest; the ``k``-th gets ``(1 + #{max_{j >= k} |t*_j| >=
    |t_(k)|}) / (1 + B)`` over the not-yet-rejected set, made monotone.
    """
    t_obs = np.abs(np.asarray(t_obs, dtype=float))
    draws = np.abs(np.asarray(t_draws, dtype=float))
    m = t_obs.size
    out = np.full(m, np.nan)
    if m == 0:
        return out
    order = np.argsort(-t_obs, kind="stable")
    b = draws.shape[0]
    raw = np.empty(m)
    for k in range(m):
        rest = order[k:]
        mx = np.nanmax(draws[:, rest], axis=1)
        raw[k] = (1.0 + np.count_nonzero(mx >= t_obs[order[k]])) / (1.0 + b)
    out[order] = np.maximum.accumulate(raw)
    return out


def contrast_table(
    results: Sequence[DimensionResult], perm: PermutationResult | None = None
) -> pd.DataFrame:
    """Every group minus its dimension's reference: estimate, analytic p, Holm and RW.

    The analytic p-value uses each interaction fit's own variance (the chosen clustering);
    Holm adjusts those across all contrasts of all dimensions; Romano-Wolf adjusts the
    permutation p-values of the studentized contrasts over the same family.
    """
    rows = []
    for res in results:
        fit, order = res.fit, res.order
        truth = res.table.set_index("group")["truth"]
        for k, g in enumerate(order[1:], 1):
            if g == NA_LABEL:
                continue
            diff = float(fit.coef[k] - fit.coef[0])
            var = fit.vcov[k, k] + fit.vcov[0, 0] - 2 * fit.vcov[k, 0]
            se = float(np.sqrt(max(var, 0.0)))
            rows.append(
                {
                    "dimension": res.dimension,
                    "contrast": f"{g} - {order[0]}",
                    "group": g,
                    "diff": diff,
                    "se": se,
                    "p": float(2 * stats.t.sf(abs(diff / se), fit.df_resid)),
                    "true_diff": float(truth.get(g, np.nan) - truth.get(order[0], np.nan)),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"] = holm(out["p"].to_numpy())
    if perm is not None and perm.contrast_t.shape[1]:
        key = {c: k for k, c in enumerate(perm.contrasts)}
        idx = [key.get((r.dimension, r.group), -1) for r in out.itertuples()]
        idx_ok = [i for i in idx if i >= 0]
        t_obs, t_draws = perm.contrast_obs[idx_ok], perm.contrast_t[:, idx_ok]
        b = t_draws.shape[0]
        single = (1.0 + (np.abs(t_draws) >= np.abs(t_obs)[None, :]).sum(axis=0)) / (1.0 + b)
        rw = romano_wolf(t_obs, t_draws)
        out["p_perm"] = np.nan
        out["p_rw"] = np.nan
        rows_ok = [r for r, i in enumerate(idx) if i >= 0]
        out.loc[rows_ok, "p_perm"] = single
        out.loc[rows_ok, "p_rw"] = rw
    return out


def rank_agreement(table: pd.DataFrame, tol: float = 1e-12) -> pd.DataFrame:
    """Per dimension: how many pairwise orders of the group estimates match the truth.

    Uses the interaction estimates of known groups; a pair of groups with different true
    effects (by more than ``tol``) is ranked correctly when the estimated difference has the
    sign of the true one. ``pairs_of_groups`` counts only such pairs (zero when the twin
    builds no difference, e.g. scenario ``"none"``); Spearman's rho is NaN when the truth or
    the estimates do not vary.
    """
    rows = []
    for dim, t in table.groupby("dimension", sort=False):
        t = t[(t["group"] != NA_LABEL) & t["truth"].notna()]
        g = len(t)
        if g < 2:
            continue
        b, tr = t["coef"].to_numpy(), t["truth"].to_numpy()
        i, j = np.triu_indices(g, 1)
        differ = np.abs(tr[i] - tr[j]) > tol
        agree = (np.sign(b[i] - b[j]) == np.sign(tr[i] - tr[j])) & differ
        varies = np.ptp(tr) > tol and np.ptp(b) > 0
        if not varies:
            rho = np.nan
        elif g > 2:
            rho = float(stats.spearmanr(b, tr).statistic)
        else:
            rho = 1.0 if agree.all() else -1.0
        rows.append(
            {
                "dimension": dim,
                "groups": g,
                "pairs_of_groups": int(differ.sum()),
                "ranked_correctly": int(agree.sum()),
                "spearman": rho,
                "true_top": str(t["group"].iloc[int(np.argmax(tr))]) if differ.any() else "",
                "estimated_top": str(t["group"].iloc[int(np.argmax(b))]),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- chapter
def n_permutations(spec) -> int:
    """Permutation draws in force (``n_het_perm``; ``n_het_perm_fast`` in fast mode)."""
    return int(spec.n_het_perm_fast if spec.fast else spec.n_het_perm)


@dataclass
class HeterogeneityResults:
    """Everything chapter 4 shows (see :func:`analyse`)."""

    groups: Groups
    results: list[DimensionResult]
    estimates: pd.DataFrame
    wald: pd.DataFrame
    permutation: PermutationResult
    contrasts: pd.DataFrame
    ranking: pd.DataFrame


def analyse(
    study: Study, *, n_draws: int | None = None, vcovs: Sequence[str] = VCOVS
) -> HeterogeneityResults:
    """Groups, interaction and split estimates, Wald and permutation tests, contrasts with
    Holm and Romano-Wolf, and (twin) the ranking check, under the study's Spec."""
    groups = group_labels(study)
    results = [interaction_model(study, groups, d) for d in groups.dimensions]
    estimates = pd.concat([r.table for r in results], ignore_index=True)
    wald = pd.concat([wald_table(study, groups, d, vcovs) for d in groups.dimensions],
                     ignore_index=True)  # fmt: skip
    n = n_permutations(study.spec) if n_draws is None else int(n_draws)
    perm = permutation_test(study, groups, n, study.spec.seed)
    contrasts = contrast_table(results, perm)
    ranking = rank_agreement(estimates) if study.has_truth else pd.DataFrame()
    return HeterogeneityResults(groups, results, estimates, wald, perm, contrasts, ranking)
