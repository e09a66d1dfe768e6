"""Figures of the Monte Carlo chapter (notebook 08), drawn from summary frames.

Every function takes the aggregate frames of :mod:`cbec.analyses.montecarlo` (``summarise``,
``ratio_histogram``, ``agreement``) and returns a matplotlib figure; the notebook stamps,
saves and glues it with :func:`cbec.outputs.publish.figure`. Error bars are 95% simulation
intervals (1.96 simulation standard errors), so a reader sees how much of a difference is
Monte Carlo noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cbec.outputs.report import PALETTE

#: Display names.
SCENARIO_LABELS: dict[str, str] = {
    "radiation": "radiation",
    "growing": "growing effects",
    "siphon": "siphon",
    "none": "no effect",
    "no_spillover": "no spillover",
}
ESTIMATOR_LABELS: dict[str, str] = {
    "twfe": "TWFE, CM outcome (paper)",
    "twfe_kpp": "TWFE, KPP outcome",
    "twfe_regionpair_year": "TWFE, region-pair x year FE",
    "twfe_pre": "TWFE, pre-period outcome",
    "twfe_clean": "TWFE, clean controls",
    "cs": "Callaway-Sant'Anna",
    "imputation": "imputation (BJS)",
}
INFERENCE_LABELS: dict[str, str] = {
    "pair": "clustered by pair",
    "pilot_city": "clustered by pilot city",
    "twoway": "two-way by city",
    "province": "clustered by province",
    "dyadic": "dyadic-robust",
    "wild_bootstrap": "wild bootstrap (pilot city)",
}
Z95 = 1.959963984540054


def _label(mapping: Mapping[str, str], key: str) -> str:
    return mapping.get(key, key)


def _order(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def bias_figure(summary: pd.DataFrame) -> Figure:
    """Bias (with 95% simulation interval) and RMSE of each estimator in each scenario."""
    import matplotlib.pyplot as plt

    s = summary.drop_duplicates(["scenario", "estimator"])
    scen = _order(s["scenario"], list(SCENARIO_LABELS))
    ests = _order(s["estimator"], list(ESTIMATOR_LABELS))
    fig, axes = plt.subplots(
        1, 2, figsize=(10, 0.55 * len(scen) * len(ests) / 2 + 2.2), sharey=True
    )
    ypos = {}
    y = 0.0
    for sc in scen:
        for e in ests:
            ypos[(sc, e)] = y
            y -= 1.0
        y -= 0.6
    for k, e in enumerate(ests):
        sub = s[s["estimator"] == e].set_index("scenario")
        ys = [ypos[(sc, e)] for sc in scen if sc in sub.index]
        rows = sub.loc[[sc for sc in scen if sc in sub.index]]
        color = PALETTE[k % len(PALETTE)]
        axes[0].errorbar(rows["bias"], ys, xerr=Z95 * rows["bias_mcse"], fmt="o", color=color,
                         capsize=2, label=_label(ESTIMATOR_LABELS, e))  # fmt: skip
        axes[1].plot(rows["rmse"], ys, "s", color=color)
    ticks = [np.mean([ypos[(sc, e)] for e in ests]) for sc in scen]
    axes[0].set_yticks(ticks, [_label(SCENARIO_LABELS, sc) for sc in scen])
    axes[0].axvline(0.0, color="black", lw=0.7)
    axes[0].set_xlabel("bias: mean of (estimate - true ATT)")
    axes[1].set_xlabel("RMSE")
    axes[1].set_xlim(left=0.0)
    axes[0].set_title("Bias, with 95% simulation interval")
    axes[1].set_title("Root mean squared error")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def coverage_figure(summary: pd.DataFrame, estimator: str = "twfe") -> Figure:
    """Coverage of the 95% interval by inference choice and scenario (one estimator)."""
    import matplotlib.pyplot as plt

    s = summary[summary["estimator"] == estimator]
    scen = _order(s["scenario"], list(SCENARIO_LABELS))
    infs = _order(s["inference"], list(INFERENCE_LABELS))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(infs) * len(scen) / 2 + 2.0))
    width = 0.8 / max(len(scen), 1)
    for k, sc in enumerate(scen):
        sub = s[s["scenario"] == sc].set_index("inference").reindex(infs)
        ys = np.arange(len(infs)) - 0.4 + (k + 0.5) * width
        ax.errorbar(sub["coverage"], -ys, xerr=Z95 * sub["coverage_mcse"], fmt="o",
                    color=PALETTE[k % len(PALETTE)], capsize=2, ms=4,
                    label=_label(SCENARIO_LABELS, sc))  # fmt: skip
    ax.axvline(0.95, color="black", ls="--", lw=0.8)
    ax.set_yticks(-np.arange(len(infs)), [_label(INFERENCE_LABELS, i) for i in infs])
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share of replications whose 95% interval covers the true ATT")
    ax.set_title(f"Coverage: {_label(ESTIMATOR_LABELS, estimator)}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def size_figure(summary: pd.DataFrame, scenario: str = "none") -> Figure:
    """Rejection rate of a true null (no policy effect) by inference choice and estimator."""
    import matplotlib.pyplot as plt

    s = summary[summary["scenario"] == scenario]
    ests = _order(s["estimator"], list(ESTIMATOR_LABELS))
    infs = _order(s["inference"], list(INFERENCE_LABELS))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(infs) * len(ests) / 2 + 2.0))
    width = 0.8 / max(len(ests), 1)
    for k, e in enumerate(ests):
        sub = s[s["estimator"] == e].set_index("inference").reindex(infs)
        ys = np.arange(len(infs)) - 0.4 + (k + 0.5) * width
        ax.errorbar(sub["rejection"], -ys, xerr=Z95 * sub["rejection_mcse"], fmt="o",
                    color=PALETTE[k % len(PALETTE)], capsize=2, ms=4,
                    label=_label(ESTIMATOR_LABELS, e))  # fmt: skip
    n = int(s["n"].max()) if len(s) else 0
    if n:
        half = Z95 * np.sqrt(0.05 * 0.95 / n)
        ax.axvspan(0.05 - half, 0.05 + half, color="0.85", zorder=0,
                   label=f"0.05 +- simulation error at n={n}")  # fmt: skip
    ax.axvline(0.05, color="black", ls="--", lw=0.8)
    ax.set_yticks(-np.arange(len(infs)), [_label(INFERENCE_LABELS, i) for i in infs])
    ax.set_xlim(left=0.0)
    ax.set_xlabel("share of replications rejecting 'no effect' at the 5% level")
    ax.set_title("Size: rejection rates when the policy does nothing")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def ratio_figure(
    hist: pd.DataFrame,
    estimator: str = "twfe",
    single: float | None = None,
    quantiles: pd.DataFrame | None = None,
) -> Figure:
    """Distribution of estimate / true ATT over replications, one panel per scenario.

    ``single`` marks one draw's ratio (chapter 2's), ``quantiles`` (summary rows) adds the
    median as a line.
    """
    import matplotlib.pyplot as plt

    h = hist[hist["estimator"] == estimator]
    scen = _order(h["scenario"], list(SCENARIO_LABELS))
    fig, axes = plt.subplots(1, max(len(scen), 1), figsize=(3.2 * max(len(scen), 1), 3.2),
                             sharey=True, squeeze=False)  # fmt: skip
    for ax, sc in zip(axes[0], scen, strict=False):
        sub = h[h["scenario"] == sc]
        ax.bar(sub["lo"], sub["count"], width=sub["hi"] - sub["lo"], align="edge",
               color=PALETTE[0], alpha=0.8, edgecolor="white")  # fmt: skip
        ax.axvline(1.0, color="black", lw=0.9, label="estimate = truth")
        if quantiles is not None:
            q = quantiles[(quantiles["scenario"] == sc) & (quantiles["estimator"] == estimator)]
            if len(q) and "ratio_q50" in q:
                ax.axvline(float(q["ratio_q50"].iloc[0]), color=PALETTE[1], lw=1.2, ls="-.",
                           label="median")  # fmt: skip
        if single is not None and sc == "radiation" and np.isfinite(single):
            ax.axvline(single, color=PALETTE[2], lw=1.5, ls="--", label="the book's one draw")
        ax.set_title(_label(SCENARIO_LABELS, sc))
        ax.set_xlabel("estimate / true ATT")
    axes[0][0].set_ylabel("replications")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def agreement_figure(agree: pd.DataFrame) -> Figure:
    """z-scores of the live run against the committed summary, with the critical band."""
    import matplotlib.pyplot as plt

    crit = float(agree.attrs.get("critical", 3.0))
    fig, ax = plt.subplots(figsize=(8, 3.0))
    for k, (q, sub) in enumerate(agree.groupby("quantity", sort=False)):
        x = np.arange(len(sub)) + (0.3 * k)
        ax.plot(x, sub["z"], "o", ms=3, color=PALETTE[k % len(PALETTE)], label=q)
    ax.axhspan(-crit, crit, color="0.9", zorder=0, label=f"|z| <= {crit:.2f}")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks([])
    ax.set_xlabel("scenario x estimator x inference")
    ax.set_ylabel("(live - committed) / sim. error")
    ax.set_title("The live fast run against the committed study")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
