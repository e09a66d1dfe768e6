"""Why the baseline DID misses the twin's true effect: computed accounts for chapters 2-3.

* :func:`gap_account` decomposes the TWFE coefficient (:mod:`cbec.estimators.decomposition`)
  and writes the explanation of the gap, ranking the causes by their computed size;
* :func:`seed_spread` repeats the baseline and its decomposition on a few twin seeds, so the
  book can show how far one draw is from typical (the full study is the Monte Carlo
  chapter's);
* :func:`pretest_account` splits the event study of the outcome into the event study of the
  no-policy outcome and of the true effect (the event study is linear in the outcome), and
  says which one drives a rejection of the pre-trend test;
* :func:`null_size` measures how often each clustering rejects a true null on one draw, by
  random pilot reassignment (:func:`cbec.estimators.placebo.null_rejection`).

Every sentence returned here is built from computed values, so that it reads true whatever
the draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.estimators import decomposition, eventstudy, placebo
from cbec.spec import Spec
from cbec.study.pipeline import Study, build_study

#: Plain-language names of the causes (keys of :meth:`Decomposition.ranked`) and the
#: design of chapter 3 that addresses each.
CAUSES: dict[str, tuple[str, str]] = {
    "weighting": (
        "the TWFE weighting of treated cells (staggered timing and effects that grow)",
        "heterogeneity-robust estimators (the modern-DID chapter)",
    ),
    "pre_period": (
        "the outcome's whole-window standardisation, which moves the cells before the first "
        "designation",
        'the outcome on pre-period moments (`outcome_moments="pre"`)',
    ),
    "treated_pre_late": (
        "early exposure and standardisation in later pilots' pre-designation years",
        "the outcome on pre-period moments and a clean timing",
    ),
    "control_late": (
        "spillover onto control pairs and standardisation after the first designation",
        'clean controls (`control_exposure="clean"`)',
    ),
    "control_late_exposed": (
        "spillover onto exposed control pairs (tied to a pilot) after the first designation",
        'clean controls (`control_exposure="clean"`)',
    ),
    "control_late_clean": (
        "standardisation effects on clean control pairs after the first designation",
        'the outcome on pre-period moments (`outcome_moments="pre"`)',
    ),
    "no_policy": (
        "the no-policy outcome of this draw (noise and trends that differ between groups)",
        "no design removes it (more data averages it out); region-pair x year effects absorb "
        "its regional part",
    ),
}


@dataclass
class GapAccount:
    """The decomposition of one study's baseline DID and its explanation."""

    decomposition: decomposition.Decomposition
    table: pd.DataFrame
    ranked: pd.DataFrame
    sentence: str


def gap_account(
    study: Study, *, controls: Sequence[str] = (), exposed: str | None = "exposed"
) -> GapAccount:
    """Decompose the DID of ``syn`` on the twin and explain the gap to the true ATT.

    ``table`` has one row per component with ``value`` and ``share`` of the ATT;
    ``ranked`` lists the causes of the gap (the weighting part of the treated cells and
    every other component) by absolute size; ``sentence`` names the largest causes.
    """
    if not study.has_truth:
        raise ValueError("the decomposition needs the true effect, known only on the twin")
    panel = study.panel
    ex = exposed if exposed in panel.columns else None
    from cbec.study.pairs import fixed_effects

    d = decomposition.decompose_twfe(
        panel, controls=tuple(controls), fe=fixed_effects(study.spec), exposed=ex
    )
    ranked = d.ranked()
    ranked["cause"] = ranked["component"].map(lambda k: CAUSES[k][0])
    ranked["design"] = ranked["component"].map(lambda k: CAUSES[k][1])
    gap = d.estimate - d.att
    top = ranked.iloc[:3]
    parts = [f"{r.cause} ({r.value:+.3f}, {r.share:+.0%} of the ATT)" for r in top.itertuples()]
    direction = "below" if gap < 0 else "above"
    sentence = (
        f"The estimate {d.estimate:.3f} lies {abs(gap):.3f} {direction} the true ATT "
        f"{d.att:.3f}. By computed size, the largest contributions are "
        + "; ".join(parts[:-1])
        + ("; and " if len(parts) > 1 else "")
        + parts[-1]
        + "."
    )
    return GapAccount(d, d.table, ranked, sentence)


def seed_spread(
    spec: Spec,
    seeds: Sequence[int],
    *,
    controls: Sequence[str] | None = None,
    study: Study | None = None,
) -> pd.DataFrame:
    """The baseline DID, the true ATT and the decomposition on several twin seeds.

    Returns one row per seed: ``seed, estimate`` (with ``controls``, default the spec's),
    ``estimate_nc`` (no controls), ``true_att``, ``ratio = estimate / true_att`` and the
    decomposition components of the no-controls estimate. ``study`` (built from ``spec``)
    is reused for its own seed instead of being rebuilt.
    """
    if not spec.is_synthetic:
        raise ValueError("seed_spread needs the synthetic twin")
    controls = tuple(spec.controls if controls is None else controls)
    rows = []
    for s in seeds:
        same = study is not None and study.spec == spec.replace(seed=int(s))
        st = study if same else build_study(spec.replace(seed=int(s)))
        fit = decomposition.fwl_did(st.panel, "syn", "did", controls, vcov="pair")
        d = decomposition.decompose_twfe(st.panel)
        row = {
            "seed": int(s),
            "estimate": fit["coef"],
            "estimate_nc": d.estimate,
            "true_att": d.att,
            "ratio": fit["coef"] / d.att if d.att != 0 else np.nan,
            "weighting": d.weighting,
        }
        row.update(d.table.set_index("component")["value"].to_dict())
        rows.append(row)
    return pd.DataFrame(rows)


def seeds_for(spec: Spec) -> list[int]:
    """The twin seeds chapter 2 uses: the spec's seed and the next ones."""
    n = spec.n_truth_seeds_fast if spec.fast else spec.n_truth_seeds
    return [spec.seed + k for k in range(n)]


@dataclass
class PretestAccount:
    """Pre-trend tests of the outcome and of its two parts on the twin.

    Attributes
    ----------
    table
        One row per series (outcome, no-policy outcome, true effect): ``chi2, df, p`` of its
        own pre-trend test, and ``contribution``: the exact additive share of the outcome's
        Wald statistic, ``b_part' V^-1 b`` with ``b`` the outcome's leads and ``V`` their
        variance (the parts' contributions sum to the outcome's statistic).
    driver
        ``"none"`` (the outcome's test does not reject), else the part with the larger
        contribution, ``"no_policy"`` or ``"true_effect"``.
    sentence
        The computed account in words.
    """

    table: pd.DataFrame
    driver: str
    sentence: str


def pretest_account(
    study: Study,
    *,
    controls: Sequence[str] = (),
    alpha: float = 0.05,
    outcome_es: eventstudy.EventStudyResult | None = None,
) -> PretestAccount:
    """Event studies of ``syn``, of the no-policy ``syn_cf`` and of the true effect ``tau``.

    The event-study coefficients are linear in the outcome, so the leads of ``syn`` are the
    leads of ``syn_cf`` plus those of ``tau``. Each part is tested on its own, and the
    outcome's Wald statistic ``b' V^-1 b`` is split exactly into ``b_cf' V^-1 b`` and
    ``b_tau' V^-1 b``. ``outcome_es`` reuses an event study of ``syn`` already fitted with
    the same window, controls and clustering.
    """
    if not study.has_truth:
        raise ValueError("the split needs the no-policy outcome, known only on the twin")
    spec = study.spec
    fits = {}
    for col in ("syn", "syn_cf", "tau"):
        if col == "syn" and outcome_es is not None:
            fits[col] = outcome_es
            continue
        fits[col] = eventstudy.fit_event_study(
            study.panel, y=col, window=spec.event_window, controls=tuple(controls),
            cluster=spec.cluster, seed=spec.seed, n_sim=1000,
        )  # fmt: skip
    es = fits["syn"]
    leads = [k for k in es.vcov.index if k < 0 and k != spec.event_ref]
    v = es.vcov.loc[leads, leads].to_numpy()

    def lead_coefs(r: eventstudy.EventStudyResult) -> np.ndarray:
        return r.table.set_index("event_time").loc[leads, "coef"].to_numpy(dtype=float)

    b = lead_coefs(es)
    vinv_b = np.linalg.solve(v, b)
    names = {"syn": "outcome SYN", "syn_cf": "no-policy SYN(0)", "tau": "true effect"}
    rows = []
    for col, r in fits.items():
        rows.append(
            {"series": names[col], "chi2": r.pretest_stat, "df": r.pretest_df,
             "p": r.pretest_p, "contribution": float(lead_coefs(r) @ vinv_b)}
        )  # fmt: skip
    tab = pd.DataFrame(rows)
    p_out = float(tab.loc[0, "p"])
    c_cf, c_tau = float(tab.loc[1, "contribution"]), float(tab.loc[2, "contribution"])
    if p_out >= alpha:
        driver = "none"
    else:
        driver = "no_policy" if c_cf >= c_tau else "true_effect"
    verdict = "rejects" if p_out < alpha else "does not reject"
    share_cf = c_cf / float(tab.loc[0, "chi2"]) if tab.loc[0, "chi2"] else float("nan")
    alone = lambda i: "rejects" if tab.loc[i, "p"] < alpha else "does not reject"  # noqa: E731
    sentence = (
        f"On the outcome the pre-trend test {verdict} at the {alpha:.0%} level "
        f"(chi2({int(tab.loc[0, 'df'])}) = {tab.loc[0, 'chi2']:.2f}, p = {p_out:.3f}). "
        f"The same test on the no-policy outcome alone gives chi2 = {tab.loc[1, 'chi2']:.2f} "
        f"(p = {tab.loc[1, 'p']:.3f}; it {alone(1)}), on the true effect alone "
        f"chi2 = {tab.loc[2, 'chi2']:.2f} (p = {tab.loc[2, 'p']:.3f}; it {alone(2)}). "
        f"Of the outcome's statistic, {share_cf:.0%} comes from the no-policy leads and "
        f"{1 - share_cf:.0%} from the true effect's leads."
    )
    sentence += {
        "none": "",
        "no_policy": " The rejection is driven by the no-policy outcome: this draw's own "
        "pre-designation differences between treated and control pairs, not the policy.",
        "true_effect": " The rejection is driven by the true effect: the outcome's "
        "construction moves the pre-designation cells of treated pairs.",
    }[driver]
    return PretestAccount(tab, driver, sentence)


def null_size(study: Study, n_draws: int, seed: int, *, y: str | None = None) -> pd.DataFrame:
    """Rejection rates of each clustering under a true null, on the study's outcome.

    On the twin the outcome is the no-policy ``syn_cf`` (no pilot changes it), elsewhere
    ``syn``; random pilots (:func:`cbec.estimators.placebo.null_rejection`) have no effect on
    either by construction or by randomisation.
    """
    if y is None:
        y = "syn_cf" if "syn_cf" in study.panel.columns else "syn"
    pilots = study.universe.loc[study.universe["pilot"], ["city_id", "treat_year"]]
    return placebo.null_rejection(
        study.panel, y, n_draws, seed, pilots=pilots, cities=study.universe["city_id"].to_numpy()
    )


def stars(p: float) -> str:
    """Stars of the book's tables: * p<0.1, ** p<0.05, *** p<0.01."""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


def significance_text(p: float) -> str:
    """Words that match the stars of :func:`stars`."""
    if p < 0.01:
        return "significant at the 1% level (***)"
    if p < 0.05:
        return "significant at the 5% level (**)"
    if p < 0.1:
        return "significant at the 10% level only (*)"
    return "not significant at the 10% level"
