"""Paper-style tables (HTML, LaTeX, CSV) and the figure style of the book.

A :class:`Table` is a title, a body of formatted strings, notes (the spec stamp among them)
and a cross-reference label. :func:`regression_table` fills one from plain dictionaries, so
any estimator can feed it. :func:`apply_style` and :func:`stamp` give every figure the same
look and the same provenance line; figures made from the synthetic twin carry a visible
badge so they are never mistaken for results on the real data.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Label of figures and tables made from the synthetic twin.
SYNTHETIC_BADGE = "SYNTHETIC DATA"

#: Colour-blind-safe palette (Okabe & Ito 2008): blue, vermillion, bluish green, orange,
#: reddish purple, sky blue, yellow, black.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#E69F00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

_BADGE_COLOUR = "#B2182B"
_STAMP_GID = "cbec-stamp"
_BADGE_GID = "cbec-synthetic-badge"


# ------------------------------------------------------------------------------ table
def _latex_escape(text: str) -> str:
    repl = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(repl.get(ch, ch) for ch in text)


def _cell(value: Any) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return str(value)


@dataclass(repr=False)
class Table:
    """A finished table: title, body, notes and label.

    Attributes
    ----------
    title
        Caption (HTML ``<caption>``, LaTeX ``\\caption``).
    body
        Cells as shown; the index holds the row labels (its name, if any, heads the stub
        column), the columns the column headers.
    notes
        Lines printed below the table (standard errors, stars, the spec stamp).
    label
        Cross-reference label (LaTeX ``\\label``, HTML ``id``).
    rules
        Row positions after which a horizontal rule is drawn (e.g. between the
        coefficient block and the statistics block).
    synthetic
        Results from the synthetic twin: the caption carries :data:`SYNTHETIC_BADGE`.
    show_index
        Show the row labels as a stub column; ``None`` (default) decides by
        :attr:`shows_index`.
    """

    title: str
    body: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    label: str = ""
    rules: tuple[int, ...] = ()
    synthetic: bool = False
    show_index: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.body, pd.DataFrame):
            raise TypeError(f"Table.body must be a DataFrame, got {type(self.body).__name__}")
        bad = [r for r in self.rules if not 0 < r < len(self.body)]
        if bad:
            raise ValueError(f"Table.rules {bad} must lie strictly inside 0..{len(self.body)}")

    # ------------------------------------------------------------- layout
    @property
    def shows_index(self) -> bool:
        """Whether the row labels form a stub column.

        ``show_index=None`` (default) hides an unnamed default ``RangeIndex`` (a frame
        whose rows carry no labels) and shows any other index.
        """
        if self.show_index is not None:
            return bool(self.show_index)
        idx = self.body.index
        default = (
            isinstance(idx, pd.RangeIndex) and idx.name is None and idx.start == 0 and idx.step == 1
        )
        return not default

    def _grid(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows as strings, the stub column first when shown."""
        header = [str(c) for c in self.body.columns]
        rows = [[_cell(v) for v in row] for row in self.body.itertuples(index=False, name=None)]
        if self.shows_index:
            header = [_cell(self.body.index.name), *header]
            rows = [[_cell(n), *r] for n, r in zip(self.body.index, rows, strict=True)]
        return header, rows

    # -------------------------------------------------------------- html
    def to_html(self) -> str:
        """Self-contained HTML (inline styles, no external CSS)."""
        font = "font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;"
        tbl = (
            f"border-collapse: collapse; {font} font-size: 0.92em; margin: 0.6em 0; "
            "font-variant-numeric: tabular-nums; border-top: 2px solid #333; "
            "border-bottom: 2px solid #333;"
        )
        cap = "caption-side: top; text-align: left; font-weight: 600; padding: 0 0 0.4em 0;"
        pad = "padding: 0.2em 0.9em; white-space: nowrap;"
        head_rule = "font-weight: 600; border-bottom: 1px solid #333;"
        rule = " border-top: 1px solid #999;"
        ident = f' id="{html.escape(self.label)}"' if self.label else ""
        badge = (
            f' <span style="color: {_BADGE_COLOUR}; border: 1px solid {_BADGE_COLOUR}; '
            f'border-radius: 3px; padding: 0 0.3em; font-size: 0.8em;">{SYNTHETIC_BADGE}</span>'
            if self.synthetic
            else ""
        )
        stub = self.shows_index

        def align(j: int) -> str:
            return "text-align: left;" if stub and j == 0 else "text-align: center;"

        header, rows = self._grid()
        out = [f'<div class="cbec-table"{ident}>', f'<table style="{tbl}">']
        out.append(f'<caption style="{cap}">{html.escape(self.title)}{badge}</caption>')
        heads = "".join(
            f'<th style="{pad} {align(j)} {head_rule}">{html.escape(h)}</th>'
            for j, h in enumerate(header)
        )
        out.append(f"<thead><tr>{heads}</tr></thead>")
        out.append("<tbody>")
        rules = set(self.rules)
        for i, row in enumerate(rows):
            extra = rule if i in rules else ""
            cells = "".join(
                f'<td style="{pad} {align(j)}{extra}">{html.escape(v)}</td>'
                for j, v in enumerate(row)
            )
            out.append(f"<tr>{cells}</tr>")
        out.append("</tbody></table>")
        if self.notes:
            note_style = f"{font} font-size: 0.8em; color: #444; margin: 0.1em 0; max-width: 60em;"
            out.extend(f'<p style="{note_style}">{html.escape(n)}</p>' for n in self.notes)
        out.append("</div>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self) -> str:
        """The body as a MyST pipe table (no caption, no notes).

        This is what the book places inside a numbered ``{table}`` block; the caption comes
        from the block and the notes follow it (:meth:`notes_markdown`). Characters that
        Markdown would read as markup (``|``, ``*``, ``_``) are escaped.
        """
        header, rows = self._grid()

        def esc(text: str) -> str:
            for ch in ("\\", "|", "*", "_"):
                text = text.replace(ch, "\\" + ch)
            return text.replace("\n", " ") or " "

        lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)

    def notes_markdown(self) -> str:
        """The notes as Markdown lines (escaped like the body), one per line."""
        badge = [f"**{SYNTHETIC_BADGE}**"] if self.synthetic else []
        out = []
        for note in [*badge, *self.notes]:
            text = note if note.startswith("**") else note.replace("*", "\\*").replace("_", "\\_")
            out.append(text)
        return "  \n".join(out) if out else " "

    def __repr__(self) -> str:
        header, rows = self._grid()
        text = pd.DataFrame(rows, columns=header).to_string(index=False) if rows else "(empty)"
        badge = f" [{SYNTHETIC_BADGE}]" if self.synthetic else ""
        return "\n".join([f"{self.title}{badge}", text, *self.notes])

    # ------------------------------------------------------------- latex
    def to_latex(self) -> str:
        """A LaTeX ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
        header, rows = self._grid()
        cols = ("l" + "c" * (len(header) - 1)) if self.shows_index else "c" * len(header)
        title = _latex_escape(self.title) + (f" [{SYNTHETIC_BADGE}]" if self.synthetic else "")
        lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{title}}}"]
        if self.label:
            lines.append(rf"\label{{{self.label}}}")
        lines.append(r"\begin{tabular}{" + cols + "}")
        lines.append(r"\toprule")
        lines.append(" & ".join(_latex_escape(h) for h in header) + r" \\")
        lines.append(r"\midrule")
        rules = set(self.rules)
        for i, row in enumerate(rows):
            if i in rules:
                lines.append(r"\midrule")
            lines.append(" & ".join(_latex_escape(v) for v in row) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        if self.notes:
            lines.append(r"\par\smallskip")
            lines.append(
                r"\begin{minipage}{0.95\linewidth}\footnotesize "
                + r" \\ ".join(_latex_escape(n) for n in self.notes)
                + r"\end{minipage}"
            )
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    # --------------------------------------------------------------- csv
    def to_csv(self, path: str | Path) -> Path:
        """Write the body to ``path`` (row labels first when shown); notes are not included.

        Returns the path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = self.body.copy()
        if self.shows_index and body.index.name is None:
            body.index.name = "row"
        body.to_csv(path, index=self.shows_index)
        return path

    def save(self, folder: str | Path, stem: str) -> dict[str, Path]:
        """Write ``stem.csv``, ``stem.tex`` and ``stem.html`` into ``folder``.

        Returns the written paths keyed by extension.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"csv": self.to_csv(folder / f"{stem}.csv")}
        paths["tex"] = folder / f"{stem}.tex"
        paths["tex"].write_text(self.to_latex(), encoding="utf-8")
        paths["html"] = folder / f"{stem}.html"
        paths["html"].write_text(self.to_html() + "\n", encoding="utf-8")
        return paths


# -------------------------------------------------------------------- regression table
def star_marks(p: float | None, stars: Sequence[float] = (0.1, 0.05, 0.01)) -> str:
    """Significance stars: one ``*`` for every threshold that ``p`` is strictly below.

    With the default thresholds: ``p < 0.01`` gives ``***``, ``p < 0.05`` ``**``,
    ``p < 0.1`` ``*``. A missing p-value gives no stars.
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p-value must lie in [0, 1], got {p}")
    return "*" * sum(float(p) < t for t in stars)


def _format_stat(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:.{digits}f}"
    return str(value)


def regression_table(
    columns: Mapping[str, Mapping[str, Any]],
    rows: Sequence[str],
    stats: Sequence[str],
    title: str,
    notes: Sequence[str] = (),
    stars: Sequence[float] = (0.1, 0.05, 0.01),
    labels: Mapping[str, str] | None = None,
    digits: int = 3,
    label: str = "",
    synthetic: bool = False,
) -> Table:
    """A paper-style regression table.

    Parameters
    ----------
    columns
        Model name -> ``{"coef": {row: value}, "se": {row: value}, "p": {row: value},
        "stats": {stat: value}}``. Each inner dict may omit keys; a missing coefficient
        leaves the cell blank, a missing p-value gives no stars.
    rows
        Coefficient names shown, in order. Each gives two table rows: the coefficient
        with stars, and its standard error in parentheses below.
    stats
        Statistic names shown below the coefficients (e.g. ``"N"``, ``"R2"``,
        ``"Pairs"``, ``"Cities"``, ``"Pair FE"``, ``"SE"``). Integers print with thousands
        separators, floats with ``digits`` decimals, booleans as Yes/No, strings as given.
    title, notes, label, synthetic
        As in :class:`Table`. A line on standard errors and the star thresholds is added
        after ``notes`` unless a note already states the thresholds.
    stars
        P-value thresholds; one star for each threshold the p-value is below.
    labels
        Display names of rows and statistics (defaults to the names themselves).
    digits
        Decimals of coefficients, standard errors and float statistics.
    """
    if not columns:
        raise ValueError("regression_table needs at least one column")
    labels = dict(labels or {})
    thresholds = sorted((float(s) for s in stars), reverse=True)
    for name, col in columns.items():
        unknown = set(col) - {"coef", "se", "p", "stats"}
        if unknown:
            raise ValueError(f"column {name!r} has unknown keys {sorted(unknown)}")
    index: list[str] = []
    data: dict[str, list[str]] = {name: [] for name in columns}
    for r in rows:
        index += [labels.get(r, r), ""]
        for name, col in columns.items():
            b = col.get("coef", {}).get(r)
            s = col.get("se", {}).get(r)
            p = col.get("p", {}).get(r)
            if b is None or (isinstance(b, float) and math.isnan(b)):
                data[name] += ["", ""]
                continue
            coef_txt = f"{float(b):.{digits}f}{star_marks(p, thresholds)}"
            se_ok = s is not None and not (isinstance(s, float) and math.isnan(s))
            data[name] += [coef_txt, f"({float(s):.{digits}f})" if se_ok else ""]
    for st in stats:
        index.append(labels.get(st, st))
        for name, col in columns.items():
            data[name].append(_format_stat(col.get("stats", {}).get(st), digits))
    body = pd.DataFrame(data, index=pd.Index(index, dtype=object), dtype=object)
    body.columns = list(columns)
    legend = ", ".join(f"{'*' * (i + 1)} p<{t:g}" for i, t in enumerate(thresholds))
    all_notes = list(notes)
    if not any(legend in n for n in all_notes):  # callers may already explain the stars
        all_notes.append(f"Standard errors in parentheses. {legend}.")
    rule = (2 * len(rows),) if rows and stats else ()
    return Table(
        title=title, body=body, notes=all_notes, label=label, rules=rule, synthetic=synthetic
    )


# ----------------------------------------------------------------------------- figures
def apply_style() -> None:
    """Set the book's matplotlib style (readable fonts, no top/right spines, Okabe-Ito colours)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "savefig.bbox": "tight",
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "legend.fontsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "0.9",
            "grid.linewidth": 0.6,
            "axes.axisbelow": True,
            "axes.prop_cycle": cycler(color=list(PALETTE)),
            "lines.linewidth": 1.6,
            "figure.figsize": (6.4, 4.0),
        }
    )


def _remove_gid(fig: Figure, gid: str) -> None:
    for t in list(fig.texts):
        if t.get_gid() == gid:
            t.remove()


def stamp(fig: Figure, text: str, synthetic: bool = False, fontsize: float = 7.0) -> Figure:
    """Add the spec stamp as small grey text at the bottom of ``fig``.

    The text is wrapped to the figure width and the bottom margin grows to make room (for
    figures without a layout engine; with ``savefig.bbox = "tight"`` nothing is clipped
    either way). With ``synthetic=True`` a red :data:`SYNTHETIC_BADGE` label is added in
    the top-right corner. Stamping again replaces the previous stamp and badge.
    """
    _remove_gid(fig, _STAMP_GID)
    _remove_gid(fig, _BADGE_GID)
    width_pt = fig.get_figwidth() * 72.0
    per_line = max(20, int(width_pt / (0.52 * fontsize)))
    wrapped = textwrap.fill(text, width=per_line)
    n_lines = wrapped.count("\n") + 1
    height = (n_lines * fontsize * 1.3 + 4.0) / (fig.get_figheight() * 72.0)
    fig.text(
        0.01, 0.005, wrapped, ha="left", va="bottom", fontsize=fontsize, color="0.45",
        gid=_STAMP_GID,
    )  # fmt: skip
    if fig.get_layout_engine() is None and fig.axes:
        bottom = fig.subplotpars.bottom
        if not getattr(fig, "_cbec_stamped", False):
            fig.subplots_adjust(bottom=min(0.5, bottom + height))
            fig._cbec_stamped = True  # type: ignore[attr-defined]
    if synthetic:
        fig.text(
            0.99,
            0.99,
            SYNTHETIC_BADGE,
            ha="right",
            va="top",
            fontsize=9,
            fontweight="bold",
            color=_BADGE_COLOUR,
            gid=_BADGE_GID,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": _BADGE_COLOUR},
        )
    return fig
