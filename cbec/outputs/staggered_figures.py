"""Figures of chapter 7 (modern staggered DID); the estimators draw nothing themselves.

:func:`plot_bacon`        Goodman-Bacon weights against 2x2 estimates.
:func:`plot_attgt`        Callaway-Sant'Anna ATT(g,t) by cohort under two control groups.
:func:`plot_event_paths`  Every estimator's event-time path on one axis, with the truth.
:func:`plot_honest`       Rambachan-Roth robust confidence sets against Mbar and M.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cbec.outputs.report import PALETTE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_TYPE_LABELS = {
    "treated_vs_never": "treated vs never treated",
    "earlier_vs_later": "earlier vs later treated (later as control)",
    "later_vs_earlier": "later vs earlier treated (already treated as control)",
}


def plot_bacon(comparisons: pd.DataFrame, twfe: float, truth: float | None = None) -> Figure:
    """Weight (x) against 2x2 estimate (y) of every Goodman-Bacon comparison."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    markers = {"treated_vs_never": "o", "earlier_vs_later": "s", "later_vs_earlier": "^"}
    for i, (kind, grp) in enumerate(comparisons.groupby("comparison_type", sort=True)):
        ax.scatter(
            grp["weight"],
            grp["estimate"],
            s=40,
            marker=markers.get(kind, "o"),
            color=PALETTE[i % len(PALETTE)],
            label=_TYPE_LABELS.get(kind, kind),
            alpha=0.85,
        )
    ax.axhline(twfe, color="0.2", linestyle="-", linewidth=1.0, label=f"TWFE = {twfe:.3f}")
    if truth is not None and np.isfinite(truth):
        ax.axhline(truth, color=PALETTE[3], linestyle="--", linewidth=1.0,
                   label=f"true ATT = {truth:.3f} (twin)")  # fmt: skip
    ax.axhline(0.0, color="0.6", linestyle=":", linewidth=0.8)
    ax.set_xlabel("Weight in the TWFE coefficient")
    ax.set_ylabel("2x2 DID estimate")
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_attgt(cells: dict[str, pd.DataFrame]) -> Figure:
    """ATT(g,t) by calendar year, one panel per cohort, one series per control group."""
    import matplotlib.pyplot as plt

    cohorts = sorted({int(g) for c in cells.values() for g in c["g"].unique()})
    fig, axes = plt.subplots(1, len(cohorts), figsize=(2.6 * len(cohorts), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, cohorts, strict=True):
        for i, (name, c) in enumerate(cells.items()):
            sub = c[c["g"] == g].sort_values("t")
            off = (i - (len(cells) - 1) / 2) * 0.15
            ax.errorbar(sub["t"] + off, sub["att"], yerr=1.96 * sub["se"], fmt="o", ms=3,
                        capsize=2, color=PALETTE[i], label=name)  # fmt: skip
        ax.axvline(g - 0.5, color="0.6", linestyle=":", linewidth=0.9)
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8)
        ax.set_title(f"designated {g}", fontsize="medium")
        ax.tick_params(axis="x", labelrotation=90)
    axes[0].set_ylabel("ATT(g,t)")
    axes[0].legend(frameon=False, fontsize="x-small")
    return fig


def plot_event_paths(
    paths: dict[str, pd.DataFrame], truth: pd.DataFrame | None = None, ref: int = -1
) -> Figure:
    """Event-time paths (``event_time, coef, se``) of several estimators on one axis."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    k = len(paths)
    for i, (name, p) in enumerate(paths.items()):
        off = (i - (k - 1) / 2) * 0.12
        p = p.sort_values("event_time")
        ax.errorbar(p["event_time"] + off, p["coef"], yerr=1.96 * p["se"].fillna(0.0), fmt="o-",
                    ms=4, lw=0.8, capsize=2, color=PALETTE[i % len(PALETTE)], label=name)  # fmt: skip
    if truth is not None and len(truth):
        ax.plot(truth["event_time"], truth["truth"], color="black", linestyle="--", marker="D",
                ms=5, label="true effect (twin)")  # fmt: skip
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8)
    ax.axvline(ref + 0.5, color="0.6", linestyle=":", linewidth=1.0)
    ax.set_xlabel("Years since designation")
    ax.set_ylabel("Effect on SYN (95% CI)")
    ax.legend(frameon=False, fontsize="small", ncol=2)
    return fig


def plot_honest(
    table: pd.DataFrame, original: tuple[float, float], breakdowns: dict[str, float]
) -> Figure:
    """Robust confidence sets against Mbar (RM) and M (SD), the original CI at the left."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), sharey=True)
    for ax, method, xlabel in zip(
        axes, ("RM", "SD"), (r"$\bar M$ (relative magnitudes)", "M (smoothness)"), strict=True
    ):
        t = table[table["method"] == method].sort_values("param")
        x = t["param"].to_numpy(dtype=float)
        step = np.diff(x).min() if x.size > 1 else 1.0
        ax.vlines(x.min() - step, original[0], original[1], color="0.3", lw=3,
                  label="original CI")  # fmt: skip
        ax.vlines(x, t["lb"], t["ub"], color=PALETTE[0], lw=3, label="robust CI")
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8)
        b = breakdowns.get(method)
        if b is not None and np.isfinite(b) and b > 0:
            ax.axvline(b, color=PALETTE[3], linestyle=":", label=f"breakdown = {b:g}")
        ax.set_xlabel(xlabel)
        ax.legend(frameon=False, fontsize="x-small")
    axes[0].set_ylabel("Target effect")
    return fig
