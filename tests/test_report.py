"""Tests of cbec.outputs.report: stars, regression tables in HTML/LaTeX/CSV, figure style and stamp."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cbec.outputs.report import (
    PALETTE,
    SYNTHETIC_BADGE,
    Table,
    apply_style,
    format_number,
    format_p,
    humanise,
    regression_table,
    significance_phrase,
    stamp,
    star_legend,
    star_marks,
)

STAMP = "Data: SYNTHETIC twin. Spec: defaults. [spec 1a2b3c4d]"


@pytest.fixture
def table() -> Table:
    columns = {
        "(1) Baseline": {
            "coef": {"did": 0.0421, "x_gap": -0.5},
            "se": {"did": 0.0102, "x_gap": 0.31},
            "p": {"did": 0.0004, "x_gap": 0.107},
            "stats": {"N": 153230, "R2": 0.61234, "Pair FE": True, "SE": "city"},
        },
        "(2) Controls": {
            "coef": {"did": 0.035},
            "se": {"did": 0.017},
            "p": {"did": 0.04},
            "stats": {"N": 153230.0, "R2": 0.6, "Pair FE": False, "SE": "city"},
        },
    }
    return regression_table(
        columns,
        rows=["did", "x_gap"],
        stats=["N", "R2", "Pair FE", "SE"],
        title="Table 2. Baseline DID & synchronization",
        notes=["Pair and year fixed effects.", STAMP],
        labels={"did": "DID", "x_gap": "GDP gap", "N": "Observations"},
        label="tab:baseline",
        synthetic=True,
    )


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, ""),
        (0.1, ""),  # thresholds are strict
        (0.0999, "*"),
        (0.05, "*"),
        (0.0499, "**"),
        (0.01, "**"),
        (0.0099, "***"),
        (0.0, "***"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_star_thresholds(p: float | None, expected: str) -> None:
    assert star_marks(p) == expected


def test_star_custom_thresholds_and_bad_p() -> None:
    assert star_marks(0.03, stars=(0.05,)) == "*"
    assert star_marks(0.001, stars=(0.01, 0.001)) == "*"
    with pytest.raises(ValueError, match="p-value"):
        star_marks(1.5)


def test_regression_table_cells(table: Table) -> None:
    body = table.body
    assert body.index.tolist() == ["DID", "", "GDP gap", "", "Observations", "R2", "Pair FE", "SE"]
    c1, c2 = body["(1) Baseline"].tolist(), body["(2) Controls"].tolist()
    assert c1[:4] == ["0.042***", "(0.010)", "-0.500", "(0.310)"]
    assert c2[:4] == ["0.035**", "(0.017)", "", ""]  # missing coefficient stays blank
    assert c1[4:] == ["153,230", "0.612", "Yes", "city"]
    assert c2[4:] == ["153,230", "0.600", "No", "city"]
    assert table.rules == (4,)
    assert table.notes[-1] == "Standard errors in parentheses. * p<0.1, ** p<0.05, *** p<0.01."
    assert STAMP in table.notes


def test_html_has_title_stars_notes(table: Table) -> None:
    out = table.to_html()
    assert "Table 2. Baseline DID &amp; synchronization" in out
    # the caption sits above the scrolling box, so a wide table never cuts it
    assert out.index("Baseline DID") < out.index("overflow-x: auto") < out.index("<table")
    assert "0.042***" in out and "(0.010)" in out
    assert "Pair and year fixed effects." in out
    assert html_escape_free(STAMP) in out
    assert SYNTHETIC_BADGE in out
    assert 'id="tab:baseline"' in out
    assert "<link" not in out and "stylesheet" not in out and "<style" not in out
    assert out == table._repr_html_()
    # one <tr> per body row plus the header
    assert out.count("<tr>") == len(table.body) + 1


def html_escape_free(text: str) -> str:
    assert not re.search(r"[<>&\"']", text)
    return text


def test_latex_output(table: Table) -> None:
    tex = table.to_latex()
    assert r"\begin{tabular}{lcc}" in tex and r"\end{tabular}" in tex
    assert r"\caption{Table 2. Baseline DID \& synchronization [SYNTHETIC DATA]}" in tex
    assert r"\label{tab:baseline}" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex
    body_lines = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln]
    assert len(body_lines) == len(table.body) + 1
    assert all(ln.count(" & ") == 2 for ln in body_lines)
    assert r"\midrule" in tex.split("Observations")[0].rsplit("(0.310)", 1)[1]
    assert "0.042***" in tex


def test_latex_escapes_specials() -> None:
    body = pd.DataFrame({"a_b": ["50%"], "c": ["$x$"]}, index=pd.Index(["r#1"], name="row"))
    tex = Table(title="A_b & {c}", body=body).to_latex()
    assert r"A\_b \& \{c\}" in tex
    assert r"A b" in tex and r"50\%" in tex and r"\$x\$" in tex and r"r\#1" in tex


def test_csv_round_trip(table: Table, tmp_path: Path) -> None:
    path = table.to_csv(tmp_path / "sub" / "t.csv")
    back = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
    assert back.columns.tolist() == table.body.columns.tolist()
    assert back.to_numpy().tolist() == table.body.to_numpy().tolist()
    assert back.index.tolist() == table.body.index.tolist()


def test_save_writes_three_files(table: Table, tmp_path: Path) -> None:
    paths = table.save(tmp_path / "out", "baseline")
    assert sorted(p.name for p in paths.values()) == [
        "baseline.csv",
        "baseline.html",
        "baseline.tex",
    ]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    assert r"\begin{tabular}" in paths["tex"].read_text()
    assert STAMP in paths["html"].read_text()


def test_unlabelled_rows_have_no_stub_and_missing_cells_are_blank(tmp_path: Path) -> None:
    body = pd.DataFrame(
        {"event_time": [-1, 0], "coef": [0.0, np.nan], "s": pd.array(["a", pd.NA], dtype="string")}
    )
    t = Table(title="Event study", body=body)
    assert not t.shows_index
    tex = t.to_latex()
    assert r"\begin{tabular}{ccl}" in tex and "0 &  &  \\\\" in tex
    assert "Event time & Estimate & S" in tex and "-1 & 0.000 & a" in tex
    out = t.to_html()
    assert out.count("<td") == 6 and "nan" not in out and "NA" not in out
    back = pd.read_csv(t.to_csv(tmp_path / "e.csv"))
    assert back.columns.tolist() == ["event_time", "coef", "s"]
    assert Table(title="x", body=body, show_index=True).shows_index
    assert Table(title="x", body=body.set_index("event_time")).shows_index
    assert repr(t).splitlines()[0] == "Event study"


def test_star_legend_not_repeated() -> None:
    cols = {"m": {"coef": {"x": 1.0}, "se": {"x": 0.1}, "p": {"x": 0.2}}}
    t = regression_table(cols, ["x"], [], "t", notes=["* p<0.1, ** p<0.05, *** p<0.01."])
    assert len(t.notes) == 1
    t2 = regression_table(cols, ["x"], [], "t", stars=(0.05,))
    assert t2.notes == ["Standard errors in parentheses. * p<0.05."]
    assert t2.body["m"].tolist() == ["1.000", "(0.100)"]


def test_table_validation() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        Table(title="t", body=[[1]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rules"):
        Table(title="t", body=pd.DataFrame({"a": [1, 2]}), rules=(2,))
    with pytest.raises(ValueError, match="unknown keys"):
        regression_table({"m": {"coefs": {}}}, rows=["x"], stats=[], title="t")


def test_apply_style_sets_rcparams() -> None:
    with matplotlib.rc_context():
        apply_style()
        rc = matplotlib.rcParams
        assert rc["figure.dpi"] == 110
        assert not rc["axes.spines.top"] and not rc["axes.spines.right"]
        assert rc["axes.prop_cycle"].by_key()["color"] == list(PALETTE)
    assert len(set(PALETTE)) == len(PALETTE)


def test_stamp_and_synthetic_badge() -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.arange(3))
    bottom = fig.subplotpars.bottom
    stamp(fig, STAMP + " " + "x" * 150, synthetic=True)
    texts = {t.get_gid(): t for t in fig.texts}
    assert texts["cbec-stamp"].get_text().replace("\n", " ").startswith(STAMP)
    assert "\n" in texts["cbec-stamp"].get_text()  # long stamps wrap
    assert texts["cbec-stamp"].get_fontsize() < 9
    assert texts["cbec-synthetic-badge"].get_text() == SYNTHETIC_BADGE
    assert fig.subplotpars.bottom > bottom
    # stamping again replaces, and without synthetic the badge goes
    stamp(fig, "second")
    gids = [t.get_gid() for t in fig.texts]
    assert gids == ["cbec-stamp"]
    assert fig.texts[0].get_text() == "second"
    fig.canvas.draw()
    plt.close(fig)


# ------------------------------------------------------------------ the formatter


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0, "<0.001"), (0.00049, "<0.001"), (0.001, "0.001"), (0.0071, "0.007"), (0.5, "0.500")],
)
def test_p_values_print_like_a_paper(p: float, text: str) -> None:
    assert format_p(p) == text
    assert format_p(float("nan")) == "" and format_p(None) == ""


def test_numbers_get_separators_and_three_decimals() -> None:
    assert format_number(153230) == "153,230"
    assert format_number(np.int64(30646)) == "30,646"
    assert format_number(15323.0) == "15,323"  # a count stored as float
    assert format_number(0.123456) == "0.123"
    assert format_number(-0.0001) == "0.000"  # no "-0.000"
    assert format_number(1234.5678) == "1,234.568"
    assert format_number(2015, year=True) == "2015" and format_number(2015.0, year=True) == "2015"
    assert format_number(True) == "Yes" and format_number(None) == "" and format_number("x") == "x"


def test_humanise_uses_labels_then_words() -> None:
    assert humanise("ci_low") == "95% CI, lower"
    assert humanise("mean_treated_before") == "Mean, treated (before)"
    assert humanise("n_treated") == "N treated"
    assert humanise("first signed") == "First signed"
    assert humanise("p-value") == "p-value"
    assert humanise("already Nice") == "already Nice"
    assert humanise("vcov", {"vcov": "Variance"}) == "Variance"


def _event_table() -> Table:
    body = pd.DataFrame(
        {
            "event_time": [-2, -1, 0, 1],
            "coef": [0.01234, 0.0, 0.0512, 0.2],
            "se": [0.01, np.nan, 0.02, 0.3],
            "p": [0.2153, np.nan, 0.0071, 0.00002],
            "n_obs": [1000, 2000.0, 153230, 5],
        }
    ).sort_values("event_time", ascending=False)  # an unnamed, unsorted integer index
    return Table(
        title="Event study",
        body=body,
        reference=("event_time", -1),
        stars={"coef": "p"},
        hide=["n_obs"],
    )


def test_formatter_cells_reference_stars_and_hidden_index() -> None:
    t = _event_table()
    assert not t.shows_index  # the shuffled integer index is not a stub column
    cells = t.cells()
    assert cells.columns.tolist() == ["Event time", "Estimate", "Std. error", "p-value"]
    by_e = cells.set_index("Event time")
    assert by_e.loc["-1"].tolist() == ["ref.", "", ""]
    assert by_e.loc["0"].tolist() == ["0.051***", "0.020", "0.007"]
    assert by_e.loc["1"].tolist() == ["0.200***", "0.300", "<0.001"]
    assert by_e.loc["-2"].tolist() == ["0.012", "0.010", "0.215"]
    assert any(star_legend() in n for n in t.notes)
    md = t.to_markdown()
    assert "n_obs" not in md and "Observations" not in md
    assert "\\<0.001" in md and "0.051\\*\\*\\*" in md


def test_stars_agree_with_the_prose_on_a_grid() -> None:
    words = {3: "1%", 2: "5%", 1: "10%"}
    for p in np.linspace(0, 1, 2001):
        n = len(star_marks(p))
        phrase = significance_phrase(float(p))
        if n:
            assert phrase == f"significant at the {words[n]} level", p
        else:
            assert phrase.startswith("not significant"), p
    assert significance_phrase(0.007) == "significant at the 1% level"
    assert significance_phrase(None) == "not tested"


def test_text_left_numbers_centred_everywhere() -> None:
    body = pd.DataFrame({"indicator": ["gdp", "wage"], "weight": [0.61234, 0.38766]})
    t = Table(title="w", body=body.sort_values("weight"))
    assert t.to_markdown().splitlines()[1] == "|:---|:---:|"
    assert r"\begin{tabular}{lc}" in t.to_latex()
    out = t.to_html()
    assert "text-align: left" in out.split("<td")[1] and "text-align: center" in out.split("<td")[2]
    assert "0.612" in out and "0.61234" not in out


def test_csv_keeps_data_at_full_precision(tmp_path: Path) -> None:
    t = _event_table()
    back = pd.read_csv(t.to_csv(tmp_path / "e.csv"))
    assert back.columns.tolist() == ["event_time", "coef", "se", "p", "n_obs"]
    assert back["p"].iloc[0] == pytest.approx(0.00002)  # the ordering and values of the body


def test_formatter_rejects_unknown_columns() -> None:
    body = pd.DataFrame({"coef": [1.0]})
    with pytest.raises(ValueError, match="columns"):
        Table(title="t", body=body, stars={"coef": "p"})
    with pytest.raises(ValueError, match="columns"):
        Table(title="t", body=body, reference=("event_time", -1))


def test_event_tables_get_ref_and_stars_without_asking() -> None:
    """Existing callers pass only a frame: the normalised period and the stars come anyway."""
    body = pd.DataFrame(
        {
            "event_time": [-2, -1, 0],
            "coef": [0.05, 0.0, 0.2],
            "se": [0.1, 0.0, 0.05],
            "p": [0.6, np.nan, 0.0004],
            "truth": [0.01, 0.1, 0.3],
        }
    )
    t = Table(title="es", body=body)
    rows = t.cells().set_index("Event time")
    assert rows.loc["-1"].tolist() == ["ref.", "", "", "0.100"]  # the truth stays
    assert rows.loc["0", "Estimate"] == "0.200***" and rows.loc["-2", "Estimate"] == "0.050"
    assert any(star_legend() in n for n in t.notes)
    plain = Table(title="es", body=body, stars={})
    assert plain.cells().set_index("Event time").loc["0", "Estimate"] == "0.200"
    # a genuine zero estimate with a standard error is not the reference period
    body2 = body.assign(se=[0.1, 0.02, 0.05])
    assert Table(title="es", body=body2).cells()["Estimate"].tolist()[1] == "0.000"
