"""Saving and stamping of the book's outputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from cbec import Spec
from cbec.outputs import publish, report


def test_figure_is_saved_and_closed(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    publish.figure(fig, "fig_x", Spec(), folder=tmp_path)
    assert (tmp_path / "fig_x.png").stat().st_size > 1000
    assert not plt.fignum_exists(fig.number)
    texts = [t.get_text() for t in fig.texts]
    assert any("SYNTHETIC twin" in t for t in texts)
    assert any(report.SYNTHETIC_BADGE in t for t in texts)


def test_reference_figure_has_no_synthetic_badge(tmp_path):
    fig, _ = plt.subplots()
    publish.figure(fig, "fig_ref", Spec(), folder=tmp_path, reference_only=True)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert report.SYNTHETIC_BADGE not in texts and "reference tables" in texts


def test_table_is_saved_with_the_spec_stamp(tmp_path):
    spec = Spec(tie_quantile=0.25)
    tab = report.Table(title="T", body=pd.DataFrame({"a": [1, 2]}), notes=["n"])
    publish.table(tab, "tab_t", spec, folder=tmp_path)
    for ext in ("csv", "tex", "html"):
        assert (tmp_path / f"tab_t.{ext}").is_file()
    assert spec.describe() in tab.notes and "tie_quantile=0.25" in spec.describe()
    assert tab.synthetic
    html = (tmp_path / "tab_t.html").read_text(encoding="utf-8")
    assert "tie_quantile=0.25" in html
    # publishing twice does not stamp twice
    publish.table(tab, "tab_t", spec, folder=tmp_path)
    assert tab.notes.count(spec.describe()) == 1


def test_real_profile_tables_are_not_badged(tmp_path):
    spec = Spec(profile="real", data_dir=str(tmp_path))
    tab = report.Table(title="T", body=pd.DataFrame({"a": [1]}))
    publish.table(tab, "tab_r", spec, folder=tmp_path)
    assert not tab.synthetic
    assert "real yearbook panel" in tab.notes[-1]


def test_markdown_escapes_markup():
    tab = report.Table(
        title="T", body=pd.DataFrame({"x_y": ["0.1**", "a|b"]}), labels={"x_y": "x_y"}
    )
    md = tab.to_markdown()
    assert "0.1\\*\\*" in md and "a\\|b" in md and "x\\_y" in md
    assert md.splitlines()[1].startswith("|:---")
