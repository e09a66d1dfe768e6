"""Tests of the generated book pages (cbec.book.pages), the paper's claims (cbec.outputs.claims)
and the command line's ``--set`` overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cbec.book.pages import (
    CLAIMS_MARKER,
    TWIN_MARKER,
    _source_read,
    claims_markdown,
    remote_url,
    repository_settings,
    rst_without_sections,
    twin_model_markdown,
)
from cbec.book.runner import BuildOptions
from cbec.outputs import claims
from cbec.spec import Spec

REPO = Path(__file__).resolve().parents[1]


def test_rst_sections_become_bold_paragraphs() -> None:
    doc = "Title line.\n\nModel\n-----\nText with :math:`x`.\n\nNotes\n=====\nMore.\n"
    out = rst_without_sections(doc)
    assert "**Model**\n\nText with :math:`x`." in out and "**Notes**\n\nMore." in out
    assert "-----" not in out and "=====" not in out
    # a line of dashes shorter than its title is not an underline
    assert rst_without_sections("A long title\n---\n") == "A long title\n---"


def test_twin_page_is_the_docstring_of_the_code() -> None:
    from cbec.data import twin

    page = twin_model_markdown()
    assert page.startswith("````{eval-rst}\n") and page.rstrip().endswith("````")
    # the first paragraph of the docstring is on the page, and no cross-reference role
    first = (twin.__doc__ or "").strip().splitlines()[0]
    assert first.split(":func:")[0].strip() in page
    assert ":func:`" not in page and ":data:`" not in page
    source = [f"# T\n\n{TWIN_MARKER}\n"]
    _source_read(type("App", (), {"srcdir": "/nonexistent"})(), "book/twin_model", source)
    assert TWIN_MARKER not in source[0] and "{eval-rst}" in source[0]


def test_claims_records_and_table(tmp_path: Path) -> None:
    out, committed = tmp_path / "out", tmp_path / "real_results"
    claims.record("n", "consistent", "153,230 pair-years", "twin", values={"n": 153230}, folder=out)
    committed.mkdir()
    (committed / "claims_baseline.json").write_text(
        json.dumps({"claim": "baseline", "status": "not consistent", "detail": "DID -0.01",
                    "profile": "real"}),
        encoding="utf-8",
    )  # fmt: skip
    rows = claims.claims_table(
        claims.load_records(out), "twin", committed={"real": committed, "twin": tmp_path / "x"}
    )
    assert [r["Claim"] for r in rows] == [c.topic for c in claims.CLAIMS]
    by = {r["Claim"]: r for r in rows}
    assert by["Observations"]["On the twin"] == "consistent: 153,230 pair-years"
    assert by["Observations"]["On the real panel"] == claims.NOT_YET
    assert by["Baseline"]["On the real panel"] == "not consistent: DID -0.01"
    assert by["Baseline"]["On the twin"] == claims.NOT_YET
    # the paper's numbers: only those our sources state
    assert by["Observations"]["The paper says"].endswith("[paper]; number: 153,230")
    assert "not public in our sources" in by["Baseline"]["The paper says"]
    only1 = claims.claims_table({}, "twin", chapters=[1], committed={})
    assert [r["Claim"] for r in only1] == ["Sample", "Observations"]
    md = claims.markdown(rows)
    assert md.count("\n") == len(rows) + 1 and "{numref}`tab-sample`" in md
    assert "consistent: 153,230" in claims_markdown(out)
    source = [f"x\n{CLAIMS_MARKER}\n"]
    _source_read(type("App", (), {"srcdir": str(tmp_path)})(), "book/replication_map", source)
    assert CLAIMS_MARKER not in source[0] and "| Claim |" in source[0]


def test_claims_record_validates(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown claim"):
        claims.record("nope", "consistent", "", "twin", folder=tmp_path)
    with pytest.raises(ValueError, match="status"):
        claims.record("n", "great", "", "twin", folder=tmp_path)
    with pytest.raises(ValueError, match="profile"):
        claims.record("n", "consistent", "", "paper", folder=tmp_path)


def test_buttons_only_with_a_repository(tmp_path: Path) -> None:
    base = {
        "repository": {"url": "", "branch": "main"},
        "html": {"use_repository_button": True, "use_issues_button": True},
        "launch_buttons": {"binderhub_url": "https://mybinder.org"},
    }
    # tmp_path is no git checkout: no URL, every button off, no launch service
    config = json.loads(json.dumps(base))
    assert repository_settings(config, tmp_path) == ""
    assert "url" not in config["repository"]
    assert config["html"]["use_repository_button"] is False
    assert config["html"]["use_edit_page_button"] is False
    assert config["launch_buttons"]["binderhub_url"] == ""
    # a URL set in _config.yml wins and keeps the buttons
    config = json.loads(json.dumps(base))
    config["repository"]["url"] = "https://example.org/team/book"
    assert repository_settings(config, tmp_path) == "https://example.org/team/book"
    assert config["html"]["use_repository_button"] is True
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_remote_url_from_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert remote_url(tmp_path) == ""
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:a/b.git"],
        check=True,
    )
    assert remote_url(tmp_path) == "https://github.com/a/b"


def test_overrides_are_injected_only_when_given() -> None:
    spec = Spec()
    plain = BuildOptions(spec=spec, build_dir=Path("/tmp/x"))
    assert "overrides" not in plain.parameters
    opts = BuildOptions(spec=spec, build_dir=Path("/tmp/x"), overrides=" scenario=siphon ")
    assert opts.parameters["overrides"] == "scenario=siphon"


@pytest.mark.parametrize(
    ("value", "needle"),
    [("scenari=siphon", "unknown Spec field 'scenari'"), ("cluster=bogus", "cluster must be")],
)
def test_cli_set_rejects_unknown_fields_and_values(value: str, needle: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cbec", "run", "--set", value, "--build-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert not (tmp_path / "executed").exists()


def _glued(name: str, data: dict[str, object]) -> dict[str, object]:
    from nbformat.v4 import new_output

    rec = {f"application/papermill.record/{k}": v for k, v in data.items()}
    return new_output(
        "display_data", data=rec, metadata={"scrapbook": {"name": name, "mime_prefix": ""}}
    )


def test_plain_download_fills_glue_and_flattens_directives() -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from cbec.book.plain import plain_notebook

    code = new_code_cell("publish(...)")
    code.outputs = [
        _glued("n", {"text/plain": "153230"}),
        _glued("word", {"text/plain": "'rejects'"}),
        _glued("tab_x", {"text/markdown": "| A |\n|:---|\n| 1 |"}),
        _glued("fig_x", {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
    ]
    md = new_markdown_cell(
        "(ch-x)=\n# Title\n\nN is {glue:text}`n:,` and the test {glue:text}`word`; see "
        "{numref}`fig-x` and {cite:p}`zhang2023cbec`.\n\n"
        ":::{table} A table\n:name: tab-x\n\n```{glue:md} tab_x\n:format: myst\n```\n\n:::\n\n"
        "```{glue:figure} fig_x\n:name: fig-x\n:alt: A line rising.\n\nThe caption.\n```\n\n"
        "```{exercise}\n:label: ex-a\n\nDo it.\n```\n\n"
        "```{solution} ex-a\n:class: dropdown\n\nDone.\n```\n"
    )
    nb = new_notebook(cells=[md, code, new_markdown_cell("Plain text.")])
    before = nbformat.writes(nb)
    out = plain_notebook(nb)
    assert nbformat.writes(nb) == before  # the input is not changed
    text = out.cells[0].source
    assert "N is 153,230 and the test rejects;" in text
    assert "see Figure “x” and (zhang2023cbec)." in text
    assert "**Table: A table**\n\n| A |\n|:---|\n| 1 |" in text
    assert "![A line rising.](attachment:fig_x.png)\n\n*The caption.*" in text
    assert "**Exercise**\n\nDo it." in text and "**Solution**\n\nDone." in text
    assert "{" not in text and "```" not in text and ":::" not in text and "(ch-x)=" not in text
    assert out.cells[0].attachments["fig_x.png"] == {"image/png": "iVBORw0KGgo="}
    assert out.cells[2].source == "Plain text." and out.cells[1].outputs == code.outputs
    nbformat.validate(out)


def test_claims_derived_from_the_tables_of_a_build(tmp_path: Path) -> None:
    (tmp_path / "tab_se_clustering.csv").write_text(
        "model,vcov,coef,se,pvalue\n(1),pair,0.2,0.01,0.0\n(1),pilot_city,0.2,0.1,0.07\n"
    )
    (tmp_path / "tab_event_study.csv").write_text(
        "event_time,coef,ci_low,ci_high\n-3,0.1,0.02,0.2\n-2,0.0,-0.1,0.1\n-1,0,0,0\n0,0.3,0.1,0.5\n"
    )
    (tmp_path / "tab_robustness_full.csv").write_text("coef,p\n0.1,0.01\n-0.1,0.01\n0.2,0.2\n")
    got = claims.derived_records(tmp_path, "twin")
    # clustered by pilot city: p = 0.07 is not below 5%
    assert got["baseline"]["status"] == "not consistent"
    assert got["baseline"]["detail"].startswith("DID 0.200, p 0.070")
    assert got["pretrends"]["status"] == "not consistent"
    assert got["pretrends"]["detail"].startswith("1 of 2 leads")
    assert got["robustness"]["status"] == "partly consistent"
    assert got["robustness"]["detail"].startswith("1 of 3 checks")
    # an explicit record wins over a derived one
    claims.record("baseline", "consistent", "joint test", "twin", folder=tmp_path)
    assert claims.load_all(tmp_path, "twin")["baseline"]["detail"] == "joint test"
    assert claims.derived_records(tmp_path / "nothing", "twin") == {}


def test_claims_from_committed_real_aggregates() -> None:
    results = {
        "samples": {
            "default": {
                "sample": {"cities": 254, "pilots": 55, "pair_years": 108390},
                "did": {"controls": {"pilot_city": {"coef": 0.05, "se": 0.01, "p": 0.0001}}},
                "event_study": {"pretest_p": 0.03},
                "robustness": [{"coef": 0.1, "p": 0.01}, {"coef": 0.1, "p": 0.2}, {"coef": None}],
            }
        }
    }
    got = claims.real_records(results)
    assert got["sample"]["status"] == "consistent"
    assert got["n"]["status"] == "not consistent" and got["n"]["detail"].startswith("108,390")
    assert got["baseline"]["status"] == "consistent" and "p <0.001" in got["baseline"]["detail"]
    assert got["pretrends"]["status"] == "not consistent"  # p = 0.03 rejects parallel trends
    assert got["robustness"]["detail"].startswith("1 of 2 checks")
    assert all(r["profile"] == "real" for r in got.values())
    assert claims.real_records(None) == {} and claims.real_records({"samples": {}}) == {}
