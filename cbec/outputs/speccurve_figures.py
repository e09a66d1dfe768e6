"""Figures of the specification curve (chapter 9), in plain matplotlib.

:func:`plot_curve` draws the curve (estimates sorted, with intervals, coloured by
significance; on the twin each specification's own true effect) above the panel of choices;
:func:`plot_shares` the share of the curve's spread each choice explains;
:func:`plot_joint_null` the null distributions of the joint test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from cbec.analyses.speccurve import label_value
from cbec.outputs.report import PALETTE

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from cbec.analyses.speccurve import CurveResult, JointTest

#: Readable names of the choices on the panel of choices.
CHOICE_LABELS: dict[str, str] = {
    "treat_year_rule": "Treatment year",
    "county_pilot_rule": "County-level pilots",
    "tie_quantile": "Tie filter (quantile)",
    "tie_base_year": "Tie base year",
    "index_input": "Index input",
    "z_ddof": "z-score sd (ddof)",
    "sync_measure": "Synchronization",
    "cycle_filter": "Cycle filter",
    "controls": "Controls",
    "outcome_moments": "Outcome moments",
    "control_exposure": "Control pairs",
    "winsorize": "Winsorised outcome",
}

_SIG_POS, _SIG_NEG, _NS = PALETTE[0], "#B2182B", "0.65"


def _choice_label(name: str) -> str:
    return CHOICE_LABELS.get(name, name.replace("_", " ").capitalize())


def _value_label(value: str) -> str:
    if value == "log_gdp_pc_gap+log_pop_gap+service_share_gap":
        return "three gaps"
    if value == "None":
        return "first window year"
    return value


def plot_curve(
    curve: CurveResult, cluster: str = "dyadic", alpha: float = 0.05, truth: bool = True
) -> Figure:
    """The specification curve above the panel of choices.

    Parameters
    ----------
    curve
        Result of :func:`cbec.analyses.speccurve.run_curve`.
    cluster
        Clustering of the intervals and of the colours.
    alpha
        Level of the two-sided intervals and of significance.
    truth
        Draw each specification's own true effect (twin only).
    """
    import matplotlib.pyplot as plt

    t = curve.table.sort_values("estimate", kind="mergesort").reset_index(drop=True)
    varied = [c for c in curve.choices if t[c].nunique() > 1]
    n_rows = sum(t[c].nunique() for c in varied)
    fig = plt.figure(figsize=(9.0, 4.2 + 0.19 * n_rows))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.19 * n_rows + 0.3], hspace=0.06)
    ax = fig.add_subplot(gs[0])
    axc = fig.add_subplot(gs[1], sharex=ax)
    x = np.arange(len(t))
    est = t["estimate"].to_numpy()
    se = t[f"se_{cluster}"].to_numpy()
    crit = stats.norm.ppf(1 - alpha / 2)
    sig = t[f"p_{cluster}"].to_numpy() < alpha
    colours = np.where(sig & (est > 0), _SIG_POS, np.where(sig & (est < 0), _SIG_NEG, _NS))
    ax.vlines(x, est - crit * se, est + crit * se, colors=colours, linewidth=0.6, alpha=0.45)
    ax.scatter(x, est, c=colours, s=6, zorder=3, linewidths=0)
    if truth and curve.has_truth:
        ax.scatter(
            x,
            t["truth"],
            marker="_",
            s=18,
            color=PALETTE[1],
            zorder=4,
            linewidths=1.0,
            label="True effect of the specification (synthetic twin)",
        )
    base = np.flatnonzero(t["is_base"].to_numpy())
    if base.size:
        ax.axvline(base[0], color="0.3", linestyle=":", linewidth=1.0)
        ax.annotate(
            "baseline spec",
            (base[0], ax.get_ylim()[1]),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize="small",
            color="0.3",
        )
    ax.axhline(0.0, color="0.35", linestyle="--", linewidth=0.8)
    ax.set_ylabel("DID estimate")
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=_SIG_POS, label="significant, > 0"),
        plt.Line2D([], [], marker="o", linestyle="", color=_SIG_NEG, label="significant, < 0"),
        plt.Line2D([], [], marker="o", linestyle="", color=_NS, label="not significant"),
    ]
    if truth and curve.has_truth:
        handles.append(
            plt.Line2D([], [], marker="_", linestyle="", color=PALETTE[1], label="true effect")
        )
    ax.legend(handles=handles, frameon=False, fontsize="small", loc="upper left", ncol=2)
    ax.tick_params(labelbottom=False)
    ax.set_title(
        f"{len(t):,} specifications; {100 * (1 - alpha):.0f}% intervals, {cluster} clustering",
        fontsize="medium",
    )

    labels, row = [], 0
    for c in varied:
        present = set(t[c].astype(str))
        ordered = [v for v in dict.fromkeys(label_value(v) for v in curve.choices[c])]
        ordered = [v for v in ordered if v in present]
        ordered += sorted(present - set(ordered))
        for v in ordered:
            on = t[c].astype(str).to_numpy() == v
            axc.scatter(x[on], np.full(on.sum(), -row), s=2.5, color="0.2", linewidths=0)
            labels.append(f"{_choice_label(c)}: {_value_label(v)}")
            row += 1
        axc.axhline(-row + 0.5, color="0.85", linewidth=0.6)
    axc.set_yticks(-np.arange(row))
    axc.set_yticklabels(labels, fontsize="x-small")
    axc.set_ylim(-row + 0.5, 0.5)
    axc.set_xlabel("Specifications, sorted by estimate")
    axc.set_xlim(-1, len(t))
    return fig


def plot_shares(decomposition: pd.DataFrame) -> Figure:
    """Horizontal bars: share of the curve's variance each choice explains alone and uniquely."""
    import matplotlib.pyplot as plt

    d = decomposition[decomposition["choice"] != "all main effects"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * len(d) + 1.2))
    y = np.arange(len(d))
    ax.barh(y + 0.2, d["share_alone"], height=0.38, color=PALETTE[0], label="alone")
    ax.barh(y - 0.2, d["share_unique"], height=0.38, color=PALETTE[2], label="beyond all others")
    ax.set_yticks(y)
    ax.set_yticklabels([_choice_label(c) for c in d["choice"]])
    ax.set_xlabel("Share of the variance of the estimates across specifications")
    ax.set_xlim(0, 1)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return fig


def plot_joint_null(test: JointTest) -> Figure:
    """Null distributions of the median estimate and of the share of significant specs."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4))
    for ax, null, obs, title, p in (
        (axes[0], test.null_median, test.observed_median, "Median estimate", test.p_median),
        (
            axes[1],
            test.null_share,
            test.observed_share,
            f"Share significant (p < {test.alpha:g}, {test.cluster})",
            test.p_share,
        ),
    ):
        ax.hist(null, bins=30, color=PALETTE[0], alpha=0.6)
        ax.axvline(obs, color="#B2182B", linewidth=1.6, label=f"observed (p = {p:.3f})")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel("Reassignments")
        ax.legend(frameon=False, fontsize="small")
    fig.suptitle(
        f"Whole curve recomputed under {test.n_draws:,} random pilot reassignments",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig
