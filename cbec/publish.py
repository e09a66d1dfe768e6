"""Hand a notebook's figures, tables and numbers to the book and to the output folder.

Every figure and table of the book goes through :func:`figure` or :func:`table`: the object
is stamped with the spec that made it, saved under the output folder (see
:func:`cbec.book.output_dir`) with the file name the replication map lists, and glued into
the notebook so the book's prose can place and number it. Numbers quoted in prose go through
:func:`number`, so no figure in the text is typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cbec.spec import Spec


def _glue(key: str, obj: Any) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # outside a notebook toolchain: nothing to glue into
        return
    glue(key, obj, display=False)


def _out(folder: str | Path | None) -> Path:
    if folder is not None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return path
    from cbec.book import output_dir

    return output_dir()


def figure(
    fig: Any,
    stem: str,
    spec: Spec,
    *,
    folder: str | Path | None = None,
    reference_only: bool = False,
) -> Path:
    """Stamp, save (PNG) and glue a matplotlib figure under the key ``stem``; close it.

    The figure carries the spec stamp at its foot and, on the twin, a SYNTHETIC DATA badge.
    ``reference_only=True`` marks a figure drawn from the committed reference tables alone
    (real cities, dates and coordinates), which is the same on every profile.
    """
    import matplotlib.pyplot as plt

    from cbec.report import stamp

    if reference_only:
        stamp(
            fig,
            "Data: reference tables in data/reference/ (real cities, pilot dates, "
            f"coordinates); no simulated values. [spec {spec.key()}]",
        )
    else:
        stamp(fig, spec.describe(), synthetic=spec.is_synthetic)
    path = _out(folder) / f"{stem}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _glue(stem, fig)
    plt.close(fig)
    return path


def table(tab: Any, stem: str, spec: Spec, *, folder: str | Path | None = None) -> Path:
    """Save a :class:`cbec.report.Table` (CSV, LaTeX, HTML) and glue it under ``stem``."""
    stamp_note = spec.describe()
    if stamp_note not in tab.notes:
        tab.notes.append(stamp_note)
    out = _out(folder)
    tab.save(out, stem)
    _glue(stem, tab)
    return out / f"{stem}.csv"


def frame(df: Any, stem: str, *, folder: str | Path | None = None) -> Path:
    """Save a plain DataFrame as CSV (for tables shown directly in a cell)."""
    path = _out(folder) / f"{stem}.csv"
    df.to_csv(path, index=False)
    return path


def number(key: str, value: Any) -> Any:
    """Glue a number or short text for the prose (``{glue:text}`key:fmt```) and return it."""
    _glue(key, value)
    return value
