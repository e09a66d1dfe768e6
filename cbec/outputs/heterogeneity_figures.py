"""Figures of chapters 4 and 5: group effects, permutation distributions, the mediation
simulation. Drawn from the frames of :mod:`cbec.analyses.heterogeneity` and
:mod:`cbec.analyses.mechanisms`; nothing is estimated here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cbec.outputs.report import PALETTE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cbec.analyses.heterogeneity import PermutationResult


def plot_group_effects(
    table: pd.DataFrame, truth: bool = True, labels: dict | None = None
) -> Figure:
    """Coefficient plot: every group's interaction and split-sample estimate (95% CI).

    ``table`` is the concatenation of :attr:`DimensionResult.table` rows (columns
    ``dimension, group, coef, se, split_coef, split_se, truth``); one panel row per
    dimension. With ``truth`` and a finite ``truth`` column the true group effect of the
    twin is drawn as a diamond.
    """
    import matplotlib.pyplot as plt

    labels = labels or {}
    dims = list(dict.fromkeys(table["dimension"]))
    sizes = [int((table["dimension"] == d).sum()) for d in dims]
    fig, axes = plt.subplots(
        len(dims), 1, figsize=(7.0, 1.0 + 0.42 * sum(sizes) + 0.5 * len(dims)),
        gridspec_kw={"height_ratios": sizes}, sharex=True, squeeze=False,
    )  # fmt: skip
    show_truth = truth and table["truth"].notna().any()
    for ax, dim in zip(axes[:, 0], dims, strict=True):
        t = table[table["dimension"] == dim].reset_index(drop=True)
        y = np.arange(len(t))[::-1].astype(float)
        ax.errorbar(t["coef"], y + 0.15, xerr=1.96 * t["se"], fmt="o", color=PALETTE[0],
                    capsize=2, ms=4, label="interaction model")  # fmt: skip
        if "split_coef" in t:
            ax.errorbar(t["split_coef"], y - 0.15, xerr=1.96 * t["split_se"], fmt="s",
                        color=PALETTE[1], capsize=2, ms=3.5, label="split sample")  # fmt: skip
        if show_truth:
            ax.plot(
                t["truth"], y, "D", color="black", ms=4.5, mfc="white", label="true effect (twin)"
            )
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(y, t["group"].astype(str))
        ax.set_ylim(-0.7, len(t) - 0.3)
        ax.set_title(labels.get(dim, dim), fontsize=9, loc="left")
    axes[0, 0].legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("DID coefficient on SYN (95% CI)")
    fig.tight_layout()
    return fig


def plot_permutation(perm: PermutationResult, labels: dict | None = None) -> Figure:
    """Permutation distributions of the F statistic, one panel per dimension, with the
    observed statistic as a vertical line."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    k = len(perm.dimensions)
    fig, axes = plt.subplots(1, k, figsize=(2.2 * k + 0.6, 2.6), squeeze=False)
    for d, ax in enumerate(axes[0]):
        draws = perm.stats[:, d]
        draws = draws[np.isfinite(draws)]
        ax.hist(draws, bins=40, color=PALETTE[0], alpha=0.8)
        if np.isfinite(perm.observed[d]):
            ax.axvline(perm.observed[d], color=PALETTE[1], lw=1.5)
        ax.set_title(
            f"{labels.get(perm.dimensions[d], perm.dimensions[d])}\np = {perm.p_values[d]:.3f}",
            fontsize=8,
        )
        ax.set_yticks([])
        ax.set_xlabel("F of equal effects", fontsize=8)
    fig.tight_layout()
    return fig


def plot_mediation_simulation(sim: pd.DataFrame) -> Figure:
    """True vs three-step mediated share, and the rate of declared mediation, per world."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.0, 2.8))
    x = np.arange(len(sim))
    a1.bar(x - 0.2, sim["true_share"], 0.4, color="white", edgecolor="black", label="built in")
    a1.bar(x + 0.2, sim["est_share"], 0.4, color=PALETTE[0], label="three-step (median)")
    a1.set_xticks(x, sim["world"], fontsize=8)
    a1.set_ylabel("share of the effect mediated")
    a1.legend(fontsize=7)
    a2.bar(x, sim["declared_rate"], 0.5, color=PALETTE[1])
    a2.set_xticks(x, sim["world"], fontsize=8)
    a2.set_ylim(0, 1)
    a2.set_ylabel("share of draws declaring mediation")
    fig.tight_layout()
    return fig
