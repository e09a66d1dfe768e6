"""Figures drawn from estimator results (the estimators themselves draw nothing).

:func:`plot_event_study` draws an :class:`~cbec.estimators.eventstudy.EventStudyResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cbec.estimators.eventstudy import X_LABEL, Y_LABEL, EventStudyResult
from cbec.outputs.report import PALETTE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_event_study(
    result: EventStudyResult,
    ax: Axes | None = None,
    truth: bool = True,
    title: str | None = None,
) -> Figure:
    """Plot the event-study path.

    Points with pointwise intervals, the simultaneous band shaded, a dashed zero line, a
    vertical line between the reference period and designation, and the true path (when
    present and ``truth`` is True) as a distinct dashed line with diamond markers.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.get_figure()
    t = result.table
    x = t["event_time"].to_numpy(dtype=float)
    lvl = 100 * (1 - result.alpha)
    ax.fill_between(
        x,
        t["band_low"].to_numpy(dtype=float),
        t["band_high"].to_numpy(dtype=float),
        color=PALETTE[0],
        alpha=0.15,
        linewidth=0,
        label=f"{lvl:.0f}% simultaneous band",
    )
    ax.axhline(0.0, color="0.35", linestyle="--", linewidth=0.9)
    ax.axvline(result.ref + 0.5, color="0.55", linestyle=":", linewidth=1.0)
    ax.errorbar(
        x,
        t["coef"].to_numpy(dtype=float),
        yerr=np.vstack(
            [(t["coef"] - t["ci_low"]).to_numpy(), (t["ci_high"] - t["coef"]).to_numpy()]
        ),
        fmt="o",
        color=PALETTE[0],
        ecolor=PALETTE[0],
        capsize=3,
        markersize=5,
        label=f"Estimate, {lvl:.0f}% pointwise CI",
    )
    if truth and result.has_truth:
        ax.plot(
            x,
            t["truth"].to_numpy(dtype=float),
            linestyle="--",
            marker="D",
            markersize=5,
            color=PALETTE[1],
            label="True effect (synthetic twin)",
        )
    lo, hi = result.window
    ticks = list(range(lo, hi + 1))
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [f"\u2264{k}" if k == lo else f"\u2265{k}" if k == hi else str(k) for k in ticks]
    )
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return fig
