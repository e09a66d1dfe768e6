"""Hand a notebook's figures, tables and numbers to the book and to the output folder.

Every figure and table of the book goes through :func:`figure` or :func:`table`: the object
is stamped with the spec that made it, saved under the output folder (see
:func:`cbec.outputs.publish.output_dir`) with the file name the replication map lists, and glued into
the notebook so the book's prose can place and number it. Numbers quoted in prose go through
:func:`number`, so no figure in the text is typed by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cbec.spec import Spec

#: Environment variable naming the folder where notebooks save tables and figures.
ENV_OUTPUT_DIR = "CBEC_OUTPUT_DIR"

#: Root of the repository (the folder holding ``_config.yml``).
REPO_ROOT = Path(__file__).resolve().parents[2]


def output_dir() -> Path:
    """Folder where a notebook saves its tables and figures (created if missing).

    ``$CBEC_OUTPUT_DIR`` when set (the runner sets it to ``<stage>/outputs``; ``make test``
    to ``_build/test-outputs``), else ``<repo>/_build/outputs``. A relative value is taken
    relative to the current directory.
    """
    value = os.environ.get(ENV_OUTPUT_DIR)
    path = Path(value).expanduser().resolve() if value else REPO_ROOT / "_build" / "outputs"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    return output_dir()


def figure(
    fig: Any,
    stem: str,
    spec: Spec,
    *,
    folder: str | Path | None = None,
    reference_only: bool = False,
) -> None:
    """Stamp, save (PNG) and glue a matplotlib figure under the key ``stem``; close it.

    The figure carries the spec stamp at its foot and, on the twin, a SYNTHETIC DATA badge.
    ``reference_only=True`` marks a figure drawn from the committed reference tables alone
    (real cities, dates and coordinates), which is the same on every profile.
    """
    import matplotlib.pyplot as plt

    from cbec.outputs.report import stamp

    if reference_only:
        stamp(
            fig,
            "Data: reference tables in data/reference/ (real cities, pilot dates, "
            f"coordinates); no simulated values. [spec {spec.key()}]",
        )
    else:
        stamp(fig, spec.describe(), synthetic=spec.is_synthetic)
    fig.savefig(_out(folder) / f"{stem}.png", dpi=110, bbox_inches="tight")
    _glue(stem, fig)
    plt.close(fig)


def table(
    tab: Any,
    stem: str,
    spec: Spec,
    *,
    folder: str | Path | None = None,
    reference_only: bool = False,
) -> None:
    """Save a :class:`cbec.outputs.report.Table` (CSV, LaTeX, HTML) and glue it for the book.

    Glues ``stem`` (the body as a Markdown table, for a numbered ``{table}`` block whose
    ``:name:`` is the stem with hyphens) and ``stem + "_notes"`` (the notes, with the spec
    stamp, shown under the block). ``reference_only=True`` marks a table of the committed
    reference facts, the same on every profile (no SYNTHETIC badge).
    """
    if reference_only:
        note = f"Data: reference tables in data/reference/ (real facts). [spec {spec.key()}]"
    else:
        note = spec.describe()
        tab.synthetic = spec.is_synthetic
    if note not in tab.notes:
        tab.notes.append(note)
    out = _out(folder)
    tab.save(out, stem)
    from IPython.display import Markdown

    _glue(stem, Markdown(tab.to_markdown()))
    _glue(f"{stem}_notes", Markdown(tab.notes_markdown()))


def frame(df: Any, stem: str, *, folder: str | Path | None = None) -> None:
    """Save a plain DataFrame as CSV (a supplementary file, not shown in the book)."""
    df.to_csv(_out(folder) / f"{stem}.csv", index=False)


def number(key: str, value: Any) -> Any:
    """Glue a number or short text for the prose (``{glue:text}`key:fmt```) and return it."""
    _glue(key, value)
    return value
