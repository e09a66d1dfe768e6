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
    regression_table,
    stamp,
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
    assert "<caption" in out and "Table 2. Baseline DID &amp; synchronization" in out
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
    assert r"a\_b" in tex and r"50\%" in tex and r"\$x\$" in tex and r"r\#1" in tex


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
    assert r"\begin{tabular}{ccc}" in tex and "0 &  &  \\\\" in tex
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
