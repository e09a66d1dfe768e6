"""Figures of chapter 6: tool mix by batch and city, effect by tool."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

TOOLS = ("supply", "environment", "demand")
TOOL_COLORS = {"supply": "#4C72B0", "environment": "#55A868", "demand": "#C44E52"}


def plot_tool_mix(mix: pd.DataFrame, *, group: str = "batch", label: str = "name") -> Figure:
    """Stacked bars of tool shares, one bar per row of ``mix``, grouped by ``group``.

    ``mix`` has ``share_<tool>`` columns, a ``label`` column and a ``group`` column (bars are
    ordered by group, then label; a gap separates groups).
    """
    m = mix.sort_values([group, label]).reset_index(drop=True)
    groups = m[group].to_numpy()
    x = np.arange(len(m)) + np.concatenate([[0], np.cumsum(groups[1:] != groups[:-1])]) * 0.8
    fig, ax = plt.subplots(figsize=(min(12, 1.2 + 0.17 * len(m)), 3.8))
    bottom = np.zeros(len(m))
    for t in TOOLS:
        v = m[f"share_{t}"].fillna(0).to_numpy(dtype=float)
        ax.bar(x, v, bottom=bottom, width=0.8, color=TOOL_COLORS[t], label=t)
        bottom += v
    ax.set_xticks(x, m[label].astype(str), rotation=90, fontsize=6)
    for g in pd.unique(groups):
        xs = x[groups == g]
        ax.text(xs.mean(), 1.02, f"{group} {g}", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of coded tool clauses")
    ax.legend(fontsize=7, ncols=3, loc="upper left", bbox_to_anchor=(0, 1.2), frameon=False)
    return fig


def plot_effect_by_tool(est: pd.DataFrame, truth: pd.DataFrame | None = None) -> Figure:
    """Interaction coefficients per tool with 95% CIs, beside the twin's targets.

    ``est`` has ``tool, coef, ci_low, ci_high`` and ``model`` (one point per model and tool);
    ``truth`` (optional) has ``tool, projection``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    models = list(pd.unique(est["model"]))
    for j, (model, g) in enumerate(est.groupby("model", sort=False)):
        y = np.array([TOOLS.index(t) for t in g["tool"]]) + (j - (len(models) - 1) / 2) * 0.18
        ax.errorbar(g["coef"], y, xerr=[g["coef"] - g["ci_low"], g["ci_high"] - g["coef"]],
                    fmt="o", capsize=3, label=f"estimate ({model})")  # fmt: skip
    if truth is not None and truth["projection"].notna().any():
        ax.scatter(truth["projection"], [TOOLS.index(t) for t in truth["tool"]], marker="D",
                   color="black", zorder=5, label="truth (twin projection)")  # fmt: skip
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(range(3), TOOLS)
    ax.invert_yaxis()
    ax.set_xlabel("effect on SYN of DID x one sd of tool intensity")
    ax.legend(fontsize=7, loc="best")
    return fig
