"""Paper-style tables (HTML, LaTeX, CSV) and the figure style of the book.

A :class:`Table` is a title, a body, notes (the spec stamp among them) and a
cross-reference label. The body may hold raw numbers: one formatter (:meth:`Table.cells`)
turns it into what a paper prints, for the book (Markdown), HTML and LaTeX alike: human
column labels (:data:`LABELS`), three decimals, p-values as ``<0.001``, thousands
separators, ``ref.`` for the reference period, stars that match the prose
(:func:`star_marks`, :func:`significance_phrase`), no pandas index, text left-aligned and
numbers centred. The CSV export keeps the same rows and columns with the values at full
precision under their code names, so that it stays data. :func:`regression_table` fills a
table from plain dictionaries, so any estimator can feed it. :func:`apply_style` and :func:`stamp` give every figure the same
look and the same provenance line; figures made from the synthetic twin carry a visible
badge so they are never mistaken for results on the real data.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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
#: Human labels of the code names that tables use as column headers (or index names).
#: A name not listed here is shown with underscores as spaces and its first letter capital.
LABELS: dict[str, str] = {
    "coef": "Estimate",
    "estimate": "Estimate",
    "se": "Std. error",
    "std_error": "Std. error",
    "p": "p-value",
    "pvalue": "p-value",
    "p_value": "p-value",
    "t": "t",
    "tstat": "t-statistic",
    "term": "Term",
    "vcov_label": "Standard errors",
    "pre_test_p": "Pre-trend test p-value",
    "n_pairs": "Pairs",
    "n_cities": "Cities",
    "ci_low": "95% CI, lower",
    "ci_high": "95% CI, upper",
    "band_low": "Simultaneous band, lower",
    "band_high": "Simultaneous band, upper",
    "truth": "True effect (twin)",
    "true_att": "True ATT (twin)",
    "tau": "True effect τ (twin)",
    "event_time": "Event time",
    "vcov": "Clustering",
    "n": "N",
    "n_obs": "Observations",
    "n_clusters": "Clusters",
    "clusters": "Clusters",
    "did": "DID",
    "syn": "SYN",
    "weight": "Entropy weight",
    "indicator": "Indicator (code)",
    "label": "Indicator",
    "variable": "Variable",
    "mean": "Mean",
    "sd": "Std. dev.",
    "std": "Std. dev.",
    "min": "Min",
    "max": "Max",
    "count": "N",
    "batch": "Batch",
    "areas": "Areas",
    "document": "State Council document",
    "reason": "Reason",
    "rows": "Rows",
    "check": "Check",
    "change": "Changed choice",
    "mean_treated_before": "Mean, treated (before)",
    "mean_control_before": "Mean, control (before)",
    "mean_treated_after": "Mean, treated (after)",
    "mean_control_after": "Mean, control (after)",
    "std_diff_before": "Std. difference (before)",
    "std_diff_after": "Std. difference (after)",
    "smd_before": "Std. mean difference (before)",
    "smd_after": "Std. mean difference (after)",
    "pilot_city": "Pilot city",
    "pair_id": "Pair",
    "year": "Year",
    "treated": "Treated pair",
    "post": "Post",
    "distance_km": "Distance (km)",
    "log_tie": "Log tie score",
    "log_distance": "Log distance",
    "same_region": "Same region",
    "log_gdp_pc_gap": "Gap in log GDP per capita",
    "log_pop_gap": "Gap in log population",
    "service_share_gap": "Gap in service share (points)",
    "pscore": "Propensity score",
    "tie": "Tie score",
}

#: Column names read as p-values (printed ``<0.001`` below one in a thousand).
P_COLUMNS = frozenset({"p", "pvalue", "p_value", "p-value", "p value", "pval", "p_perm"})

#: Default significance thresholds: *** p<0.01, ** p<0.05, * p<0.1.
STAR_LEVELS: tuple[float, ...] = (0.1, 0.05, 0.01)

#: What a reference-period cell shows (event time -1 of an event study, say).
REFERENCE = "ref."

_NUMERIC_TEXT = re.compile(
    r"^[(\[]?[-\u2212+]?(\d[\d,]*\.?\d*|\.\d+|<0\.\d+)(%|e[-+]?\d+)?[)\]]?\**$"
)


def humanise(name: Any, labels: Mapping[str, str] | None = None) -> str:
    """The header a reader sees for a column or index called ``name``.

    Looks ``name`` up in ``labels``, then in :data:`LABELS`; a code-like name (lower case,
    underscores, no spaces) not found there gets its underscores turned into spaces and
    a capital first letter (``"n_pairs"`` -> ``"N pairs"``). Anything else is kept.
    """
    if name is None:
        return ""
    text = str(name)
    for table in (labels or {}, LABELS):
        if text in table:
            return table[text]
    if re.fullmatch(r"[a-z][a-z0-9_]*", text) and ("_" in text or text.isalpha()):
        words = text.replace("_", " ")
        return words[0].upper() + words[1:]
    if re.match(r"[a-z]{2}", text) and not re.search(r"[A-Z_]", text):
        return text[0].upper() + text[1:]  # "first signed" -> "First signed"
    return text


def _is_p_column(name: Any) -> bool:
    text = str(name).strip().lower()
    return text in P_COLUMNS or text.startswith(("p_", "p-")) and "value" in text


def _is_year_column(name: Any) -> bool:
    text = str(name).lower()
    return "year" in text or text in {"batch", "event_time", "event time", "cohort"}


def format_p(p: Any, digits: int = 3) -> str:
    """A p-value as a paper prints it: ``digits`` decimals, ``<0.001`` below the smallest."""
    if p is None or (pd.api.types.is_scalar(p) and pd.isna(p)):
        return ""
    v = float(p)
    floor = 10.0**-digits
    if v < floor:
        return f"<{floor:.{digits}f}"
    return f"{v:.{digits}f}"


def format_number(value: Any, digits: int = 3, *, year: bool = False) -> str:
    """One cell: integers with thousands separators, floats with ``digits`` decimals.

    Integer-valued floats of 1,000 or more print as integers (counts stored as floats);
    ``year=True`` prints integers without separators (years, batches, event times).
    Missing values print as an empty string, booleans as Yes/No, text as given.
    """
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "Yes" if value else "No"
    if pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value):
        return ""
    if isinstance(value, Integral | np.integer):
        return str(int(value)) if year else f"{int(value):,}"
    if isinstance(value, Real | np.floating):
        v = float(value)
        if math.isinf(v):
            return "\u221e" if v > 0 else "\u2212\u221e"
        if v.is_integer() and (year or abs(v) >= 1000):
            return str(int(v)) if year else f"{int(v):,}"
        text = f"{v:,.{digits}f}"
        return "0." + "0" * digits if text.lstrip("-") == "0." + "0" * digits else text
    return str(value)


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
        "<": r"\textless{}",
        ">": r"\textgreater{}",
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
        The cells, raw or already formatted; the index holds the row labels (its name, if
        any, heads the stub column), the columns the column headers (code names are shown
        through :func:`humanise`). Numbers are formatted by :meth:`cells`.
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
    labels
        Display names of columns (and of the index name) beyond :data:`LABELS`.
    digits
        Decimals of floats and p-values.
    reference
        ``(column, value)``: the row whose ``column`` equals ``value`` is the reference
        period (event time -1); its first estimate cell prints :data:`REFERENCE` and its
        other empty or zero estimate cells stay blank. ``None`` (default): a table with
        ``event_time``, ``coef`` and ``se`` columns takes the rows whose estimate and
        standard error are both zero or missing (the normalised period).
    stars
        ``{estimate column: p-value column}``: the estimate gets :func:`star_marks` of its
        p-value and a note states the thresholds. ``None`` (default): a ``coef`` column
        beside a p-value column (:data:`P_COLUMNS`) gets stars; ``{}``: no stars.
    star_levels
        Thresholds of the stars (and of :func:`significance_phrase` in the prose).
    hide
        Columns kept in the CSV (data) but not shown in the book, HTML or LaTeX.
    """

    title: str
    body: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    label: str = ""
    rules: tuple[int, ...] = ()
    synthetic: bool = False
    show_index: bool | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    digits: int = 3
    reference: tuple[str, Any] | None = None
    stars: Mapping[str, str] | None = None
    star_levels: Sequence[float] = STAR_LEVELS
    hide: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.body, pd.DataFrame):
            raise TypeError(f"Table.body must be a DataFrame, got {type(self.body).__name__}")
        bad = [r for r in self.rules if not 0 < r < len(self.body)]
        if bad:
            raise ValueError(f"Table.rules {bad} must lie strictly inside 0..{len(self.body)}")
        if self.stars is None:
            pcols = [c for c in self.body.columns if _is_p_column(c)]
            auto = "coef" in self.body.columns and len(pcols) == 1
            self.stars = {"coef": pcols[0]} if auto else {}
        missing = [
            c for c in [*self.stars, *self.stars.values(), *self.hide] if c not in self.body.columns
        ]
        if self.reference is not None and self.reference[0] not in self.body.columns:
            missing.append(self.reference[0])
        if missing:
            raise ValueError(f"Table refers to columns it does not have: {missing}")
        if self.stars:
            legend = star_legend(self.star_levels)
            if not any(legend in n for n in self.notes):
                self.notes.append(f"Significance: {legend} (stars from the p-value column).")

    # ------------------------------------------------------------- layout
    @property
    def shows_index(self) -> bool:
        """Whether the row labels form a stub column.

        ``show_index=None`` (default) hides an unnamed integer index (a frame whose rows
        carry no labels, also after sorting or filtering) and shows any other index.
        """
        if self.show_index is not None:
            return bool(self.show_index)
        idx = self.body.index
        unnamed_int = idx.name is None and (
            isinstance(idx, pd.RangeIndex) or pd.api.types.is_integer_dtype(idx.dtype)
        )
        return not unnamed_int

    @property
    def shown_columns(self) -> list[Any]:
        """The body's columns that the book, HTML and LaTeX show (all but :attr:`hide`)."""
        return [c for c in self.body.columns if c not in set(self.hide)]

    def _format_column(self, name: Any, values: pd.Series) -> list[str]:
        if _is_p_column(name) and pd.api.types.is_numeric_dtype(values.dtype):
            return [format_p(v, self.digits) for v in values]
        year = _is_year_column(name)
        return [format_number(v, self.digits, year=year) for v in values]

    def _reference_rows(self) -> np.ndarray | None:
        """Which rows are the reference period (see ``reference``), or None."""
        if self.reference is not None:
            key, value = self.reference
            return (self.body[key] == value).to_numpy()
        cols = set(self.body.columns)
        if not {"event_time", "coef", "se"} <= cols:
            return None
        zero_or_na = [
            pd.to_numeric(self.body[c], errors="coerce").fillna(0.0).to_numpy() == 0.0
            for c in ("coef", "se")
        ]
        return zero_or_na[0] & zero_or_na[1]

    def cells(self) -> pd.DataFrame:
        """The shown body as strings, exactly as every format prints it (human headers)."""
        cols = self.shown_columns
        out = {c: self._format_column(c, self.body[c]) for c in cols}
        if self.stars:
            for est, pcol in self.stars.items():
                if est in out:
                    marks = [
                        star_marks(None if pd.isna(p) else float(p), self.star_levels)
                        for p in self.body[pcol]
                    ]
                    out[est] = [v + m if v else v for v, m in zip(out[est], marks, strict=True)]
        mask = self._reference_rows()
        if mask is not None:
            key = self.reference[0] if self.reference is not None else "event_time"
            numeric = [
                c for c in cols if c != key and pd.api.types.is_numeric_dtype(self.body[c].dtype)
            ]
            for i, hit in enumerate(mask):
                if not hit:
                    continue
                first = True
                for c in numeric:
                    raw = self.body[c].iloc[i]
                    if pd.isna(raw) or float(raw) == 0.0:
                        out[c][i] = REFERENCE if first else ""
                        first = False
        frame = pd.DataFrame(out, columns=cols, dtype=object)
        frame.columns = [humanise(c, self.labels) for c in cols]
        if self.shows_index:
            # row labels that are known code names read as words too (exact matches only)
            names = {**LABELS, **dict(self.labels)}
            frame.index = pd.Index(
                [names.get(_cell(v), _cell(v)) for v in self.body.index], dtype=object
            )
            frame.index.name = humanise(self.body.index.name, self.labels) or None
        return frame

    def _grid(self) -> tuple[list[str], list[list[str]], list[bool]]:
        """Header, rows as strings and which columns are text, the stub column first."""
        frame = self.cells()
        header = [str(c) for c in frame.columns]
        rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        text = [self._is_text(j, frame.iloc[:, j].tolist()) for j in range(frame.shape[1])]
        if self.shows_index:
            header = [_cell(frame.index.name), *header]
            rows = [[_cell(n), *r] for n, r in zip(frame.index, rows, strict=True)]
            text = [True, *text]
        return header, rows, text

    def _is_text(self, j: int, shown: list[str]) -> bool:
        """A column is text (left-aligned) unless most of its filled cells read as numbers."""
        filled = [v for v in shown if v and v != REFERENCE]
        if not filled:
            return False
        numeric = sum(bool(_NUMERIC_TEXT.match(v.replace(" ", ""))) for v in filled)
        return numeric < 0.5 * len(filled)

    # -------------------------------------------------------------- html
    def to_html(self) -> str:
        """Self-contained HTML (inline styles, no external CSS); scrolls when too wide."""
        font = "font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;"
        tbl = (
            f"border-collapse: collapse; {font} font-size: 0.92em; margin: 0.6em 0; "
            "font-variant-numeric: tabular-nums; border-top: 2px solid #333; "
            "border-bottom: 2px solid #333;"
        )
        cap = "caption-side: top; text-align: left; font-weight: 600; padding: 0 0 0.4em 0;"
        pad = "padding: 0.2em 0.9em;"
        head_rule = "font-weight: 600; border-bottom: 1px solid #333; vertical-align: bottom;"
        rule = " border-top: 1px solid #999;"
        ident = f' id="{html.escape(self.label)}"' if self.label else ""
        badge = (
            f' <span style="color: {_BADGE_COLOUR}; border: 1px solid {_BADGE_COLOUR}; '
            f'border-radius: 3px; padding: 0 0.3em; font-size: 0.8em;">{SYNTHETIC_BADGE}</span>'
            if self.synthetic
            else ""
        )
        header, rows, text = self._grid()

        def align(j: int) -> str:
            return "text-align: left;" if text[j] else "text-align: center; white-space: nowrap;"

        # the caption sits outside the scrolling box, so it stays whole on a narrow screen
        out = [f'<div class="cbec-table"{ident}>']
        out.append(f'<p style="{font} {cap} margin: 0;">{html.escape(self.title)}{badge}</p>')
        out.append('<div class="cbec-table-scroll" style="overflow-x: auto; max-width: 100%;">')
        out.append(f'<table style="{tbl}">')
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
        out.append("</tbody></table></div>")
        if self.notes:
            note_style = f"{font} font-size: 0.8em; color: #333; margin: 0.1em 0; max-width: 60em;"
            out.extend(f'<p style="{note_style}">{html.escape(n)}</p>' for n in self.notes)
        out.append("</div>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self) -> str:
        """The shown body as a MyST pipe table (no caption, no notes).

        This is what the book places inside a numbered ``{table}`` block; the caption comes
        from the block and the notes follow it (:meth:`notes_markdown`). Text columns are
        left-aligned, numbers centred. Characters that Markdown would read as markup
        (``|``, ``*``, ``_``) are escaped.
        """
        header, rows, text = self._grid()

        def esc(cell: str) -> str:
            for ch in ("\\", "|", "*", "_", "<"):
                cell = cell.replace(ch, "\\" + ch)
            body = cell.lstrip(" ")
            indent = "\u2003" * ((len(cell) - len(body) + 1) // 2)  # Markdown drops spaces
            return (indent + body).replace("\n", " ") or " "

        lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
        lines.append("|" + "|".join(":---" if t else ":---:" for t in text) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)

    def notes_markdown(self) -> str:
        """The notes as Markdown lines (escaped like the body), one per line."""
        badge = [f"**{SYNTHETIC_BADGE}**"] if self.synthetic else []
        out = []
        for note in [*badge, *self.notes]:
            text = note if note.startswith("**") else note.replace("*", "\\*").replace("_", "\\_")
            out.append(text.replace("<", "\\<"))
        return "  \n".join(out) if out else " "

    def __repr__(self) -> str:
        header, rows, _ = self._grid()
        text = pd.DataFrame(rows, columns=header).to_string(index=False) if rows else "(empty)"
        badge = f" [{SYNTHETIC_BADGE}]" if self.synthetic else ""
        return "\n".join([f"{self.title}{badge}", text, *self.notes])

    # ------------------------------------------------------------- latex
    def to_latex(self) -> str:
        """A LaTeX ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``).

        Text columns are ``l``, numbers ``c``; the cells are those of :meth:`cells`.
        """
        header, rows, text = self._grid()
        cols = "".join("l" if t else "c" for t in text)
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
        """Write the body to ``path`` as data; notes are not included.

        The CSV has the rows and columns of the table in the same order (row labels first
        when the table shows them, hidden columns too) with the values at full precision
        under their code names, so that it can be read back as numbers.

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
def star_legend(stars: Sequence[float] = STAR_LEVELS) -> str:
    """``"* p<0.1, ** p<0.05, *** p<0.01"`` for the given thresholds."""
    thresholds = sorted((float(s) for s in stars), reverse=True)
    return ", ".join(f"{'*' * (i + 1)} p<{t:g}" for i, t in enumerate(thresholds))


def significance_phrase(p: float | None, stars: Sequence[float] = STAR_LEVELS) -> str:
    """The prose that matches :func:`star_marks`: the strictest level ``p`` is below.

    ``0.007`` -> ``"significant at the 1% level"`` (shown ***), ``0.03`` -> ``"... 5% ..."``,
    ``0.2`` -> ``"not significant at the 10% level"``; a missing p-value -> ``"not tested"``.
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "not tested"
    below = [t for t in sorted(float(s) for s in stars) if float(p) < t]
    if not below:
        return f"not significant at the {_pct(max(float(s) for s in stars))} level"
    return f"significant at the {_pct(below[0])} level"


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


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
    legend = star_legend(thresholds)
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
