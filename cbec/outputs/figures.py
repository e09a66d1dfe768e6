"""Figures drawn from estimator results (the estimators themselves draw nothing).

:func:`plot_event_study` draws an :class:`~cbec.estimators.eventstudy.EventStudyResult`.
:func:`year_axis` gives an axis whole-year ticks (never "2007.5"), :func:`label_points`
writes point labels with hand-set offsets so that crowded cities do not collide (no extra
package), and :func:`panel_grid` lays out multi-panel figures at a size a reader can read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cbec.estimators.eventstudy import X_LABEL, Y_LABEL, EventStudyResult
from cbec.outputs.report import PALETTE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Offsets (points right, points up, horizontal alignment) of city labels on the maps where
#: the default (up-right) would collide: the Yangtze delta and the Pearl River delta.
CITY_LABEL_OFFSETS: dict[str, tuple[float, float, str]] = {
    "Shanghai": (16.0, 6.0, "left"),
    "Suzhou (Jiangsu)": (-4.0, 20.0, "center"),
    "Hangzhou": (-16.0, -12.0, "right"),
    "Ningbo": (16.0, -10.0, "left"),
    "Hefei": (-18.0, 8.0, "right"),
    "Guangzhou": (-14.0, 6.0, "right"),
    "Shenzhen": (12.0, -12.0, "left"),
    "Tianjin": (-14.0, 8.0, "right"),
    "Dalian": (8.0, -2.0, "left"),
}


def year_axis(ax: Axes, which: str = "x", step: int | None = None) -> None:
    """Put whole-year ticks on an axis and print them as plain integers ("2015").

    Matplotlib picks fractional ticks (2007.5) and may add an offset or scientific
    notation to year axes; this keeps only integer years, every ``step`` years (or as many
    as fit).
    """
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator, MultipleLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(MultipleLocator(step) if step else MaxNLocator(integer=True))
    axis.set_major_formatter(FormatStrFormatter("%d"))


def label_points(
    ax: Axes,
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str],
    offsets: Mapping[str, tuple[float, float, str]] | None = None,
    fontsize: float = 8.0,
) -> None:
    """Label points, moving the labels named in ``offsets`` (default: up and to the right).

    Each label gets a thin white halo so that it stays legible over markers.
    """
    import matplotlib.patheffects as pe

    offsets = CITY_LABEL_OFFSETS if offsets is None else offsets
    for xi, yi, text in zip(x, y, labels, strict=True):
        dx, dy, ha = offsets.get(text, (4.0, 3.0, "left"))
        far = abs(dx) + abs(dy) > 12  # a moved label gets a thin leader line to its point
        ax.annotate(
            text,
            (xi, yi),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va="center",
            fontsize=fontsize,
            path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
            arrowprops={"arrowstyle": "-", "color": "0.3", "lw": 0.6, "shrinkB": 3}
            if far
            else None,
            zorder=5,
        )


def panel_grid(n: int, ncols: int = 2, width: float = 10.0, row_height: float = 3.4) -> tuple:
    """A figure with ``n`` panels on a grid of ``ncols`` columns, each readable on a page.

    Returns ``(fig, axes)`` with ``axes`` a flat list of the ``n`` used axes (unused
    cells of the grid are removed).
    """
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(width, row_height * nrows), squeeze=False)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


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
