r"""Mechanisms of the DID effect: channel variables, in the order a referee accepts them.

The paper names two channels: a leading demonstration effect of institutional innovation
and a resource reallocation effect. The evidence here comes in three steps of decreasing
credibility (Jiang 2022):

1. :func:`channel_did` -- the policy's effect on each channel variable, with the same
   fixed effects, controls and clustering as the main DID: a causal statement about the
   channel variable, nothing about the outcome.
2. :func:`pre_level_heterogeneity` -- heterogeneity of the main effect by the channel's
   pre-designation level (the pair's channel value before the first designation, split at
   the median of the treated pairs): if the policy works through the channel, pairs with
   more room to move on it should gain more. The split cannot be moved by the policy.
3. :func:`three_step` -- the classic three-step mediation regressions (Baron & Kenny
   1986): ``y ~ D``, ``M ~ D``, ``y ~ D + M``, the "mediated share" ``a b / c``. Shown as a
   description only: ``M`` is a post-treatment variable, so ``y ~ D + M`` conditions on an
   outcome of the treatment (a "bad control", Angrist & Pischke 2009, sec. 3.2.3) and ``b``
   mixes the channel's effect with whatever else moves ``M`` and ``y`` together.

:func:`simulate_three_step` is a small seeded simulation with a randomised treatment in which
the three-step method finds a mediator that was not built in, and misses one that was.

Channel measures (:data:`CHANNELS`) are ``Spec`` choices (``mech_channels``,
``mech_innov_measure``, ``mech_realloc_measure``). On the real profile a channel the user
has not supplied is reported as unavailable with what to supply; nothing is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cbec.analyses import heterogeneity as het
from cbec.study.pipeline import Study


@dataclass(frozen=True)
class Channel:
    """A channel variable: the city measure, the pair measure rule, sources."""

    label: str
    city_measure: str
    twin_source: str
    real_source: str


#: Channel variables [open: the paper does not define them]. ``real_source`` says what to
#: supply when the yearbook panel lacks the variable.
CHANNELS: dict[str, Channel] = {
    "inst_innov": Channel(
        "Institutional innovation (demonstration effect)",
        "cumulative count of cross-border e-commerce institutional innovations adopted",
        "simulated footprint of the policy (cbec.data.twin, MECHANISM_SCALE c_I)",
        "a city-year count of adopted e-commerce institutions, e.g. coded from the Ministry "
        "of Commerce's lists of replicable pilot-area practices (可复制推广的经验做法) or "
        "e-commerce invention patents (CNRDS)",
    ),
    "misallocation": Channel(
        "Resource reallocation",
        "capital misallocation index (0 = efficient)",
        "simulated footprint of the policy (cbec.data.twin, MECHANISM_SCALE c_R)",
        "a city-year factor-misallocation index, e.g. Hsieh-Klenow capital distortions "
        "from yearbook capital stock, employment and output (Bai, Hsieh & Qian 2006)",
    ),
}

#: Pair-level rule of each channel, by Spec field.
MEASURE_FIELD: dict[str, str] = {
    "inst_innov": "mech_innov_measure",
    "misallocation": "mech_realloc_measure",
}


def _rule(study: Study, var: str) -> str:
    name = MEASURE_FIELD.get(var)
    return str(getattr(study.spec, name)) if name else "nonpilot_mean"


def _wide(data: pd.DataFrame, var: str, ids: np.ndarray, years: list[int]) -> np.ndarray:
    w = data.pivot(index="city_id", columns="year", values=var).reindex(index=ids, columns=years)
    return w.to_numpy(dtype=float)


def _pair_measure(
    wide: np.ndarray, pos_i: np.ndarray, pos_j: np.ndarray, pilot_is_i: np.ndarray,
    treated: np.ndarray, rule: str,
) -> np.ndarray:  # fmt: skip
    """Pair x year channel values under a rule (rows of ``wide`` are universe positions)."""
    a, b = wide[pos_i], wide[pos_j]
    if rule == "abs_gap":
        return np.abs(a - b)
    if rule == "pair_mean":
        return (a + b) / 2
    if rule == "pair_min":
        return np.minimum(a, b)
    if rule == "nonpilot_mean":
        partner = np.where(pilot_is_i[:, None], b, a)
        return np.where(treated[:, None], partner, (a + b) / 2)
    raise ValueError(f"unknown channel rule {rule!r}")


def channel_columns(study: Study, var: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Pair-year channel values (``study.panel`` row order) and, on the twin, the values
    in the no-policy world. ``(NaN array, None)`` when the data lack ``var``."""
    panel = study.panel
    n = len(panel)
    if var not in study.city.data.columns:
        return np.full(n, np.nan), None
    years = list(study.spec.years)
    ids = study.universe["city_id"].to_numpy()
    kp = panel.drop_duplicates("pair_id")
    pos_i, pos_j = kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy()
    pilot_is_i = kp["pilot_city"].to_numpy() == kp["city_i"].to_numpy()
    treated = kp["treated"].to_numpy() == 1
    rule = _rule(study, var)
    if not (panel["pair_id"].to_numpy().reshape(len(kp), len(years))[:, 0]
            == kp["pair_id"].to_numpy()).all():  # fmt: skip
        raise ValueError("the pair panel must be sorted by pair and year")
    fact = _pair_measure(_wide(study.city.data, var, ids, years), pos_i, pos_j, pilot_is_i,
                         treated, rule).reshape(-1)  # fmt: skip
    cf = study.city.counterfactual
    if cf is None or var not in cf.columns:
        return fact, None
    cfv = _pair_measure(_wide(cf, var, ids, years), pos_i, pos_j, pilot_is_i, treated, rule)
    return fact, cfv.reshape(-1)


def channel_measures(study: Study) -> pd.DataFrame:
    """One row per channel of ``spec.mech_channels``: measure, rule, source, status, supply."""
    rows = []
    for var in study.spec.mech_channels:
        ch = CHANNELS.get(var, Channel(var, var, "twin variable", f"a city variable {var}"))
        have = var in study.city.data.columns and study.city.data[var].notna().any()
        rows.append(
            {
                "channel": var,
                "label": ch.label,
                "city measure": ch.city_measure,
                "pair rule": _rule(study, var),
                "source": (ch.twin_source if study.is_synthetic else "user's yearbook panel")
                if have
                else "not in the data",
                "status": "available" if have else "unavailable",
                "supply": "" if have else ch.real_source,
            }
        )
    return pd.DataFrame(rows)


def available_channels(study: Study) -> list[str]:
    """Channels of the spec that the data provide."""
    m = channel_measures(study)
    return m.loc[m["status"] == "available", "channel"].tolist()


def built_in_shares(study: Study) -> dict[str, float]:
    """The twin's share of the policy effect attributed to each channel (empty on real data)."""
    if not study.is_synthetic:
        return {}
    meta = study.meta.get("twin", {}) if isinstance(study.meta, dict) else {}
    shares = meta.get("mechanism_shares") if isinstance(meta, dict) else None
    if shares is None:
        from cbec.data import twin

        shares = twin.true_parameters(study.spec)["mechanism_shares"]
    return {k: float(v) for k, v in dict(shares).items()}


def _frame(study: Study, var: str) -> tuple[pd.DataFrame, bool]:
    """Panel columns for the fits plus ``ch`` (and ``ch_tau`` on the twin)."""
    fact, cf = channel_columns(study, var)
    cols = ["pair_id", "year", "city_i", "city_j", "cluster_city", "treated", "did", "syn",
            *study.spec.controls]  # fmt: skip
    if "tau" in study.panel.columns:
        cols.append("tau")
    frame = study.panel[cols].copy()
    frame["ch"] = fact
    if cf is not None:
        frame["ch_tau"] = fact - cf
    ok = np.isfinite(fact)
    if not ok.all():
        # whole pairs only, so that the panel stays balanced
        good = pd.Series(ok).groupby(frame["pair_id"].to_numpy()).all()
        frame = frame[good.reindex(frame["pair_id"].to_numpy()).to_numpy()]
    return frame.reset_index(drop=True), cf is not None


def channel_did(study: Study, var: str) -> dict[str, float]:
    """Step 1: DID of the pair-level channel on the treatment (same FE, controls, cluster).

    Returns ``coef, se, p, nobs, n_pairs`` and, on the twin, ``truth``: the mean effect of
    the policy on the channel over treated post-designation pair-years (factual minus
    no-policy channel) and ``truth_did``: the same DID fitted to that true effect, which
    is what the design recovers without noise (it differs from ``truth`` when control
    pairs are moved too).
    """
    spec = study.spec
    frame, has_cf = _frame(study, var)
    fit = het.fit_fwl(frame, "ch", ["did"], spec.controls, spec.cluster)
    t = fit.table().iloc[0]
    truth = float(frame.loc[frame["did"] == 1, "ch_tau"].mean()) if has_cf else np.nan
    truth_did = (
        float(het.fit_fwl(frame, "ch_tau", ["did"], spec.controls, "pair").coef[0])
        if has_cf
        else np.nan
    )
    sd = float(frame.loc[frame["year"] == spec.first_year, "ch"].std())
    return {
        "channel": var,
        "coef": float(t["coef"]),
        "se": float(t["se"]),
        "p": float(t["pvalue"]),
        "truth": truth,
        "truth_did": truth_did,
        "sd_first_year": sd,
        "nobs": fit.nobs,
        "n_pairs": fit.n_pairs,
    }


def pre_level_groups(study: Study, var: str) -> het.Groups:
    """Treated pairs labelled ``low``/``high`` by the channel's pre-designation level.

    The level is the pair-level channel measure averaged over the window years before the
    first designation (``Spec.het_pre`` applies), split at the median over treated pairs.
    """
    fact, _ = channel_columns(study, var)
    panel = study.panel
    last = study.spec.first_year if study.spec.het_pre == "first_year" else (
        het.first_designation(study) - 1)  # fmt: skip
    pre = (panel["year"].to_numpy() <= last) & (panel["treated"].to_numpy() == 1)
    lvl = pd.Series(fact[pre]).groupby(panel["pair_id"].to_numpy()[pre]).mean()
    ok = lvl.notna()
    cut = float(lvl[ok].median()) if ok.any() else np.nan
    lab = np.where(~ok, het.NA_LABEL, np.where(lvl > cut, "high", "low"))
    labels = pd.DataFrame({var: lab}, index=pd.Index(lvl.index, name="pair_id"))
    measures = pd.DataFrame(
        [{"dimension": var, "threshold": cut, "n_pairs_labelled": int(ok.sum())}]
    )
    return het.Groups(labels=labels, measures=measures, reference={var: "low"})


def pre_level_heterogeneity(study: Study, var: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Step 2: the main DID by the channel's pre-period level (interaction model and split
    samples, with the Wald test of equal effects under ``spec.cluster`` and dyadic)."""
    groups = pre_level_groups(study, var)
    res = het.interaction_model(study, groups, var)
    wald = het.wald_table(
        study, groups, var, vcovs=tuple(dict.fromkeys((study.spec.cluster, "dyadic")))
    )
    return res.table, wald


def three_step(study: Study, var: str) -> dict[str, float]:
    """Step 3 (descriptive): Baron-Kenny regressions on the pair panel.

    ``c`` from ``y ~ did``, ``a`` from ``ch ~ did``, ``c_prime`` and ``b`` from
    ``y ~ did + ch``, all with pair and year effects, the spec's controls and clustering;
    ``indirect = a b`` and ``share = a b / c``. On the twin also ``true_total`` (the true
    ATT on the pairs used), ``true_a`` (the true effect on the channel) and
    ``built_in_share``.
    """
    spec = study.spec
    frame, has_cf = _frame(study, var)
    ctrl = spec.controls
    f1 = het.fit_fwl(frame, "syn", ["did"], ctrl, spec.cluster).table()
    f2 = het.fit_fwl(frame, "ch", ["did"], ctrl, spec.cluster).table()
    f3 = het.fit_fwl(frame, "syn", ["did", "ch"], ctrl, spec.cluster).table()
    c, a = float(f1.loc["did", "coef"]), float(f2.loc["did", "coef"])
    b = float(f3.loc["ch", "coef"])
    out = {
        "channel": var,
        "c": c, "c_se": float(f1.loc["did", "se"]), "c_p": float(f1.loc["did", "pvalue"]),
        "a": a, "a_se": float(f2.loc["did", "se"]), "a_p": float(f2.loc["did", "pvalue"]),
        "b": b, "b_se": float(f3.loc["ch", "se"]), "b_p": float(f3.loc["ch", "pvalue"]),
        "c_prime": float(f3.loc["did", "coef"]), "c_prime_se": float(f3.loc["did", "se"]),
        "c_prime_p": float(f3.loc["did", "pvalue"]),
        "indirect": a * b,
        "share": a * b / c if c != 0 else np.nan,
    }  # fmt: skip
    shares = built_in_shares(study)
    out["built_in_share"] = shares.get(var, np.nan)
    if has_cf and "tau" in frame.columns:
        post = frame["did"] == 1
        out["true_total"] = float(frame.loc[post, "tau"].mean())
        out["true_a"] = float(frame.loc[post, "ch_tau"].mean())
    else:
        out["true_total"] = out["true_a"] = np.nan
    return out


# --------------------------------------------------------------------------- simulation
#: Worlds of :func:`simulate_three_step`: coefficients of ``M = a D + U + e_M`` and
#: ``Y = c D + b M + g U + e_Y`` (``U`` an unobserved common cause, all shocks N(0, 1)).
SIM_WORLDS: dict[str, dict[str, float]] = {
    "no mediator built in": {"a": 0.5, "c": 0.5, "b": 0.0, "g": 1.0},
    "mediator built in": {"a": 0.5, "c": 0.2, "b": 1.0, "g": -2.0},
}


def _ols_batch(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched OLS with homoskedastic SEs: ``x`` (R, n, k), ``y`` (R, n)."""
    xtx = np.einsum("rnk,rnl->rkl", x, x)
    inv = np.linalg.inv(xtx)
    beta = np.einsum("rkl,rnl,rn->rk", inv, x, y)
    e = y - np.einsum("rnk,rk->rn", x, beta)
    dof = x.shape[1] - x.shape[2]
    s2 = (e**2).sum(axis=1) / dof
    se = np.sqrt(np.einsum("rkk->rk", inv) * s2[:, None])
    return beta, se


def simulate_three_step(
    reps: int, n: int = 400, seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """The three-step method in two worlds with a randomised treatment (seeded).

    In each world ``D ~ Bernoulli(1/2)`` is randomised, ``U ~ N(0, 1)`` is an unobserved
    common cause of ``M`` and ``Y`` (:data:`SIM_WORLDS`). In *no mediator built in*, ``M``
    has no effect on ``Y`` (true indirect effect 0) but shares ``U`` with it; in *mediator
    built in*, ``M`` carries most of the effect but ``U`` pushes ``M`` and ``Y`` in opposite
    directions so that ``b`` is estimated near zero. Returns one row per world: the true and
    mean estimated ``a``, ``b``, indirect effect and mediated share, and the rate at which
    the three-step rule (``a`` and ``b`` both significant at ``alpha``) declares mediation.
    """
    rng = np.random.default_rng(seed)
    rows = []
    crit = stats.t.ppf(1 - alpha / 2, n - 3)
    for world, par in SIM_WORLDS.items():
        d = (rng.random((reps, n)) < 0.5).astype(float)
        u = rng.standard_normal((reps, n))
        m = par["a"] * d + u + rng.standard_normal((reps, n))
        y = par["c"] * d + par["b"] * m + par["g"] * u + rng.standard_normal((reps, n))
        one = np.ones_like(d)
        b1, _ = _ols_batch(np.stack([one, d], axis=2), y)
        b2, s2 = _ols_batch(np.stack([one, d], axis=2), m)
        b3, s3 = _ols_batch(np.stack([one, d, m], axis=2), y)
        a_hat, b_hat, c_hat = b2[:, 1], b3[:, 2], b1[:, 1]
        sig = (np.abs(a_hat / s2[:, 1]) > crit) & (np.abs(b_hat / s3[:, 2]) > crit)
        true_total = par["c"] + par["a"] * par["b"]
        rows.append(
            {
                "world": world,
                "true_a": par["a"],
                "est_a": float(a_hat.mean()),
                "true_b": par["b"],
                "est_b": float(b_hat.mean()),
                "true_indirect": par["a"] * par["b"],
                "est_indirect": float((a_hat * b_hat).mean()),
                "true_share": par["a"] * par["b"] / true_total,
                "est_share": float(np.median(a_hat * b_hat / c_hat)),
                "declared_rate": float(sig.mean()),
                "reps": reps,
                "n": n,
            }
        )
    return pd.DataFrame(rows)
