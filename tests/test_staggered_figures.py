"""Chapter 7 figures draw what they are given (cbec.outputs.staggered_figures)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cbec.outputs import staggered_figures as sfig


def test_bacon_plot_has_one_point_per_comparison() -> None:
    comp = pd.DataFrame({"comparison_type": ["treated_vs_never"] * 3 + ["later_vs_earlier"] * 2,
                         "weight": [0.3, 0.2, 0.1, 0.25, 0.15],
                         "estimate": [0.1, 0.2, 0.0, -0.1, 0.05]})  # fmt: skip
    fig = sfig.plot_bacon(comp, 0.07, truth=0.1)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(comp)
    assert {ln.get_ydata()[0] for ln in ax.lines} >= {0.07, 0.1}
    plt.close(fig)


def test_event_paths_and_honest_plot() -> None:
    path = pd.DataFrame({"event_time": [-2, -1, 0, 1], "coef": [0.0, 0.0, 0.1, 0.2],
                         "se": [0.05, 0.0, 0.05, 0.06]})  # fmt: skip
    truth = pd.DataFrame({"event_time": [0, 1], "truth": [0.12, 0.18]})
    fig = sfig.plot_event_paths({"A": path, "B": path.assign(coef=path["coef"] * 2)}, truth)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"A", "B", "true effect (twin)"} <= set(labels)
    plt.close(fig)
    hd = pd.DataFrame({"method": ["RM"] * 3 + ["SD"] * 2, "param": [0, 0.5, 1, 0, 0.1],
                       "lb": [0.1, 0.0, -0.1, 0.1, -0.05], "ub": [0.3, 0.4, 0.5, 0.3, 0.35]})  # fmt: skip
    fig = sfig.plot_honest(hd, (0.12, 0.28), {"RM": 0.5, "SD": np.nan})
    rm_labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "breakdown = 0.5" in rm_labels
    assert not any("breakdown" in s for s in fig.axes[1].get_legend_handles_labels()[1])
    plt.close(fig)
