"""Tests of the book runner (cbec.book) and of the built book.

The ``book``-marked tests build the whole book once, in fast mode, into a temporary folder
through the command line (``python -m cbec book --fast``), then read the HTML: every page of
the table of contents exists, no page shows an error or stderr output, every image resolves,
every glued figure is an image, every page carries the data banner, every planned output
file was written and every planned figure carries the number the replication map gives it.
The runner tests build tiny throwaway books: a notebook that raises and a page with a broken
reference leave the previous good book untouched; ``--only`` reuses earlier executed copies.
The real-data test (``CBEC_REAL_DATA``) runs chapters 1-3 on the real panel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import jupytext
import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cbec.book.runner import (
    DOWNLOAD_LINE,
    DOWNLOADS_DIR,
    INJECTED_TAG,
    OUTPUTS,
    REPO_ROOT,
    BookError,
    _reusable,
    banner_text,
    download_copies,
    download_line,
    find_notebooks,
    insert_download_line,
    planned_outputs,
)
from cbec.outputs.publish import output_dir
from cbec.spec import Spec

#: An exception name followed by a colon, as a traceback's last line prints it.
EXCEPTION_LINE = re.compile(r"\b[A-Z]\w*(Error|Exception|Interrupt)\b:")


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cbec ...`` with no CBEC_* settings inherited (options say it all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBEC_") and k != "MPLBACKEND"}
    return subprocess.run(
        [sys.executable, "-m", "cbec", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


def _toc_files(toc: object) -> list[str]:
    """Every ``file:`` (and the root) of a jb-book table of contents."""
    found: list[str] = []
    if isinstance(toc, dict):
        for key, value in toc.items():
            if key in ("root", "file"):
                found.append(str(value))
            else:
                found.extend(_toc_files(value))
    elif isinstance(toc, list):
        for item in toc:
            found.extend(_toc_files(item))
    return found


def _pages(html_dir: Path) -> list[Path]:
    """Content pages of the built book (not Sphinx's search and index pages, not assets)."""
    return [
        p
        for p in sorted(html_dir.rglob("*.html"))
        if not p.relative_to(html_dir).parts[0].startswith("_")
        and p.name not in ("genindex.html", "search.html", "index.html")
    ]


def _soup(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


# ------------------------------------------------------------------ the built book


@pytest.fixture(scope="module")
def built(book_build: Path) -> Path:
    """The session's fast build of the whole book (``tests/conftest.py``), checked once."""
    log = book_build.parent / "build-stdout.txt"
    if log.is_file():  # built in this session (not a CBEC_BOOK_BUILD given from outside)
        out = log.read_text(encoding="utf-8")
        # one progress line per notebook, then the HTML step and the index path
        assert len(re.findall(r"\] \d\d_\w+\.ipynb \.\.\. ok \d+\.\d s", out)) == len(
            find_notebooks(REPO_ROOT / "notebooks")
        ), out
        assert str(book_build / "html" / "index.html") in out
    return book_build


@pytest.mark.book
def test_every_toc_page_is_built(built: Path) -> None:
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = _toc_files(toc)
    assert len(files) >= 10
    missing = [
        f for f in files if not (built / "html" / f"{Path(f).with_suffix('')}.html").is_file()
    ]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.book
def test_no_page_shows_errors_or_stderr(built: Path) -> None:
    problems = []
    for page in _pages(built / "html"):
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(built / "html")
        for marker in ("Traceback", "papermill-error-cell", "An Exception was encountered"):
            if marker in text:
                problems.append(f"{name}: contains {marker!r}")
        soup = BeautifulSoup(text, "html.parser")
        if soup.select(".output.stderr, .output.traceback, .output.error"):
            problems.append(f"{name}: has a stderr or error output block")
        for out in soup.select(".cell_output"):
            hit = EXCEPTION_LINE.search(out.get_text(" "))
            if hit:
                problems.append(f"{name}: output shows {hit.group(0)!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.book
def test_every_image_resolves(built: Path) -> None:
    html_dir = built / "html"
    broken = []
    n_images = 0
    for page in _pages(html_dir):
        for img in _soup(page).find_all("img"):
            src = img.get("src", "")
            url = urlparse(src)
            if url.scheme in ("http", "https", "data"):
                continue
            n_images += 1
            target = (page.parent / unquote(url.path)).resolve()
            if not target.is_file():
                broken.append(f"{page.relative_to(html_dir)}: {src}")
    assert n_images > 0
    assert not broken, "images that do not resolve:\n" + "\n".join(broken)


@pytest.mark.book
def test_glued_figures_are_images(built: Path) -> None:
    """Each notebook's figures render as images, never as '<Figure size ...>' text."""
    for page in sorted((built / "html" / "notebooks").glob("*.html")):
        soup = _soup(page)
        assert "Figure size" not in soup.get_text(" "), f"{page.name}: a figure rendered as text"
        figures = soup.find_all("figure")
        assert figures, f"{page.name}: no figure at all"
        for fig in figures:
            assert fig.find("img") is not None, f"{page.name}: figure {fig.get('id')} has no image"
            number = fig.select_one(".caption-number")
            assert number is not None and re.match(r"Figure \d+\.\d+", number.get_text()), (
                f"{page.name}: figure {fig.get('id')} is not numbered by chapter"
            )


@pytest.mark.book
def test_every_page_names_its_data(built: Path) -> None:
    for page in _pages(built / "html"):
        banner = _soup(page).select_one(".bd-header-announcement")
        assert banner is not None, f"{page.name}: no data banner"
        assert "SYNTHETIC twin (seed 20230221, fast mode)" in banner.get_text(), page.name
    for page in sorted((built / "html" / "notebooks").glob("*.html")):
        assert "Data: SYNTHETIC twin" in page.read_text(encoding="utf-8"), page.name


@pytest.mark.book
def test_every_planned_output_is_written(built: Path) -> None:
    expected = planned_outputs("twin")
    missing = [
        f"{o.notebook}: {o.file}" for o in expected if not (built / "outputs" / o.file).is_file()
    ]
    assert not missing, "planned outputs not written:\n" + "\n".join(missing)
    record = json.loads((built / "build.json").read_text(encoding="utf-8"))
    assert record["parameters"] == {
        "profile": "twin",
        "data_dir": None,
        "seed": 20230221,
        "fast": True,
    }
    assert record["not_executed"] == []


def _labels(built: Path, kind: str) -> list[tuple[str, str, str | None]]:
    """(expected label, element id, number the book shows) for each planned ``kind``."""
    found = []
    seen: set[str] = set()
    for o in OUTPUTS:
        if not o.label.startswith(kind) or not o.file.endswith((".png", ".csv")):
            continue
        if o.label in seen:  # a second file of the same table (e.g. the full audit rows)
            continue
        seen.add(o.label)
        ident = Path(o.file).stem.replace("_", "-")
        page = built / "html" / "notebooks" / f"{o.notebook}.html"
        element = _soup(page).find(id=ident)
        number = element.select_one(".caption-number") if element is not None else None
        found.append((o.label, ident, number.get_text().strip() if number else None))
    return found


@pytest.mark.book
def test_figure_labels_match_the_book(built: Path) -> None:
    """Each planned figure is numbered in the book as the replication map says.

    Convention: the figure's ``:name:`` is its file stem with hyphens (fig-pilot-map).
    """
    wrong = [f"{ident}: map says {label}, book shows {shown}" for label, ident, shown in
             _labels(built, "Figure") if shown != label]  # fmt: skip
    assert not wrong, "\n".join(wrong)


@pytest.mark.book
def test_table_labels_match_the_book(built: Path) -> None:
    """Each planned table is numbered in the book as the replication map says (tab-sample)."""
    wrong = [f"{ident}: map says {label}, book shows {shown}" for label, ident, shown in
             _labels(built, "Table") if shown != label]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def _download_links(page: Path, stem: str) -> dict[str, dict[str, Path]]:
    """Where the page's in-text links and the theme's menu send each download (by suffix)."""
    soup = _soup(page)
    found: dict[str, dict[str, Path]] = {"text": {}, "menu": {}}
    places = {
        "text": soup.select("a.reference.download"),
        "menu": soup.select(".dropdown-download-buttons a.dropdown-item"),
    }
    for place, anchors in places.items():
        for a in anchors:
            target = (page.parent / unquote(a.get("href", ""))).resolve()
            if target.name in (f"{stem}.ipynb", f"{stem}.md"):
                found[place][target.suffix] = target
    return found


@pytest.mark.book
def test_every_notebook_page_offers_both_downloads(built: Path) -> None:
    """Each chapter notebook links its executed .ipynb and its .md text notebook, which exist."""
    html_dir = built / "html"
    for source in find_notebooks(REPO_ROOT / "notebooks"):
        page = html_dir / "notebooks" / f"{source.stem}.html"
        links = _download_links(page, source.stem)
        assert set(links["text"]) == {".ipynb", ".md"}, f"{page.name}: in-text links {links}"
        assert links["menu"] == links["text"], f"{page.name}: the download menu differs"
        for target in links["text"].values():
            assert target.is_file() and html_dir / "_downloads" in target.parents, target
        assert DOWNLOAD_LINE in _soup(page).find("h1").find_next("p").get_text(), page.name
    # the downloads are files, not pages; executed/ keeps the notebooks as papermill left them
    assert not list(html_dir.rglob(f"{DOWNLOADS_DIR}/*.html"))
    assert not (built / "executed" / DOWNLOADS_DIR).exists()
    for path in (built / "executed").glob("*.ipynb"):
        assert DOWNLOAD_LINE not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.book
def test_downloads_hold_the_executed_chapter(built: Path) -> None:
    """The .ipynb is the executed notebook less the injected cell; the .md its code as text."""
    for executed in sorted((built / "executed").glob("*.ipynb")):
        links = _download_links(
            built / "html" / "notebooks" / f"{executed.stem}.html", executed.stem
        )
        ran = nbformat.read(executed, as_version=4)
        code = [
            c.source
            for c in ran.cells
            if c.cell_type == "code" and INJECTED_TAG not in c.metadata.get("tags", [])
        ]
        assert len(code) < sum(c.cell_type == "code" for c in ran.cells), "no injected cell"

        nb = nbformat.read(links["text"][".ipynb"], as_version=4)
        nbformat.validate(nb)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert [c.source for c in cells] == code, executed.name
        assert all(c.execution_count is not None for c in cells), executed.name
        assert sum(bool(c.outputs) for c in cells) >= len(cells) // 2, executed.name
        assert "Data: SYNTHETIC twin" in json.dumps([c.outputs for c in cells]), executed.name
        # markdown comes as plain Markdown (glued values filled in, MyST directives and roles
        # turned into text: cbec.book.plain), so plain JupyterLab shows it as the book does
        kept = [c for c in ran.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
        assert [c.cell_type for c in nb.cells] == [c.cell_type for c in kept], executed.name
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "{glue:" not in prose and "{numref}" not in prose, executed.name

        text = links["text"][".md"].read_text(encoding="utf-8")
        assert "format_name: myst" in text, executed.name
        back = jupytext.reads(text, fmt="md:myst")
        assert not [c.metadata for c in back.cells if {"papermill", "execution"} & set(c.metadata)]
        assert [c.source for c in back.cells if c.cell_type == "code"] == code, executed.name
        source = REPO_ROOT / "notebooks" / executed.name
        n_source = sum(c.cell_type == "code" for c in nbformat.read(source, as_version=4).cells)
        assert len(code) == n_source, f"{executed.name}: {len(code)} code cells, source {n_source}"


# -------------------------------------------------------------- failure paths


def _tiny_book(root: Path, cells: list, page: str = "# Tiny\n\nA test book.\n") -> Path:
    """A throwaway book with one page and one notebook ``01_tiny.ipynb`` made of ``cells``."""
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "_config.yml").write_text(
        'title: Tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n',
        encoding="utf-8",
    )
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/01_tiny\n",
        encoding="utf-8",
    )
    (root / "book" / "intro.md").write_text(page, encoding="utf-8")
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "notebooks" / "01_tiny.ipynb")
    return root


def _previous_good_book(build_dir: Path) -> str:
    (build_dir / "html").mkdir(parents=True)
    marker = "<p>the previous good book</p>"
    (build_dir / "html" / "index.html").write_text(marker, encoding="utf-8")
    return marker


PARAMS = new_code_cell(
    "profile = None\ndata_dir = None\nseed = None\nfast = None", metadata={"tags": ["parameters"]}
)


def test_only_reuses_the_other_notebooks(tmp_path: Path) -> None:
    """``--only 02`` re-executes one notebook and reuses the others from the last run."""
    writes = "from cbec.outputs.publish import output_dir\n(output_dir() / '{0}').write_text('{0}')"
    src = _tiny_book(tmp_path / "src", [PARAMS, new_code_cell(writes.format("tab_one.csv"))])
    noisy = new_code_cell("import sys\nprint('careful', file=sys.stderr)")
    second = new_notebook(cells=[PARAMS, new_code_cell(writes.format("tab_two.csv")), noisy])
    second.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
    nbformat.write(second, src / "notebooks" / "02_two.ipynb")
    build_dir = tmp_path / "_build"
    proc = _cli("run", "--source", str(src), "--build-dir", str(build_dir), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in (build_dir / "outputs").iterdir()) == [
        "tab_one.csv",
        "tab_two.csv",
    ]

    proc = _cli("run", "--source", str(src), "--only", "02", "--build-dir", str(build_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/2] 01_tiny.ipynb ... reused from the last build" in proc.stdout
    assert "[2/2] 02_two.ipynb ... ok" in proc.stdout
    assert "note: stderr output (shown on the page) in cells 4" in proc.stdout
    assert sorted(p.name for p in (build_dir / "executed").glob("*.ipynb")) == [
        "01_tiny.ipynb",
        "02_two.ipynb",
    ]
    assert (build_dir / "outputs" / "tab_one.csv").read_text(encoding="utf-8") == "tab_one.csv"

    # a copy made with other parameters, from another source or missing an output is not reused
    first = src / "notebooks" / "01_tiny.ipynb"
    previous, outputs = build_dir / "executed" / first.name, build_dir / "outputs"
    params = {"profile": "twin", "data_dir": None, "seed": 20230221, "fast": False}
    assert _reusable(previous, first, params, outputs) == ["tab_one.csv"]
    assert _reusable(previous, first, {**params, "seed": 7}, outputs) is None
    assert _reusable(previous, src / "notebooks" / "02_two.ipynb", params, outputs) is None
    (outputs / "tab_one.csv").unlink()
    assert _reusable(previous, first, params, outputs) is None
    # then a book with --only 02 shows 01 unexecuted, does not fail on its warnings, says so
    proc = _cli("book", "--source", str(src), "--only", "02", "--build-dir", str(build_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "01_tiny.ipynb ... not executed (no executed copy with these parameters)" in proc.stdout
    assert "html (partial build: warnings not fatal) ... ok" in proc.stdout
    page = _soup(build_dir / "html" / "notebooks" / "01_tiny.html")
    banner = page.select_one(".bd-header-announcement").get_text()
    assert "Partial build: not executed: 01_tiny." in banner
    links = _download_links(build_dir / "html" / "notebooks" / "01_tiny.html", "01_tiny")
    assert set(links["text"]) == {".ipynb", ".md"}
    assert all(path.is_file() for path in links["text"].values())
    assert not (build_dir / "executed" / DOWNLOADS_DIR).exists()


def test_failing_notebook_is_named_and_previous_book_kept(tmp_path: Path) -> None:
    src = _tiny_book(
        tmp_path / "src",
        [
            new_markdown_cell("# Tiny chapter"),
            PARAMS,
            new_code_cell("x = 1"),
            new_code_cell("raise ValueError('boom on purpose')"),
            new_code_cell("y = 2"),
        ],
    )
    build_dir = tmp_path / "_build"
    marker = _previous_good_book(build_dir)
    proc = _cli("book", "--source", str(src), "--build-dir", str(build_dir), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[1/1] 01_tiny.ipynb ... FAILED" in proc.stdout
    # cell 4 of the source notebook (papermill's injected cell is not counted there), but
    # In [4] as the executed copy shows it (the injected cell ran as In [2])
    assert "notebook 01_tiny.ipynb failed in cell 4 (In [4])" in proc.stderr, proc.stderr
    assert "ValueError: boom on purpose" in proc.stderr
    assert (build_dir / "html" / "index.html").read_text(encoding="utf-8") == marker
    assert not (build_dir / "executed").exists()
    kept = build_dir / "failed" / "notebooks" / "01_tiny.ipynb"
    assert kept.is_file() and str(kept) in proc.stderr
    assert not list(build_dir.glob(".stage-*"))


def test_failing_html_build_keeps_previous_book(tmp_path: Path) -> None:
    src = _tiny_book(
        tmp_path / "src",
        [new_markdown_cell("# Tiny chapter"), PARAMS, new_code_cell("x = 1")],
        page="# Tiny\n\nA link to {doc}`no_such_page`.\n",
    )
    build_dir = tmp_path / "_build"
    marker = _previous_good_book(build_dir)
    proc = _cli("book", "--source", str(src), "--build-dir", str(build_dir), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[1/1] 01_tiny.ipynb ... ok" in proc.stdout
    assert "jupyter-book build failed" in proc.stderr and "no_such_page" in proc.stderr
    assert (build_dir / "html" / "index.html").read_text(encoding="utf-8") == marker
    assert (build_dir / "failed" / "jupyter-book.log").is_file()


def test_bad_options_are_refused(tmp_path: Path) -> None:
    proc = _cli("run", "--profile", "real", "--build-dir", str(tmp_path))
    assert proc.returncode == 2 and "data_dir" in proc.stderr
    proc = _cli("run", "--only", "99", "--build-dir", str(tmp_path))
    assert proc.returncode == 2 and "--only '99' matches no notebook" in proc.stderr
    proc = _cli("run", "--profile", "real", "--data-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not (tmp_path / "executed").exists()


# ------------------------------------------------------------------- unit tests


def test_find_notebooks_selects_by_number_stem_or_name(tmp_path: Path) -> None:
    for name in ("02_b.ipynb", "01_a.ipynb", "10_c.ipynb", "notes.ipynb", "1_x.ipynb"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert [p.name for p in find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    chosen = find_notebooks(tmp_path, ["10", "01_a", "02_b.ipynb", "01"])
    assert [p.name for p in chosen] == ["01_a.ipynb", "02_b.ipynb", "10_c.ipynb"]
    with pytest.raises(BookError, match="matches no notebook; available: 01_a.ipynb"):
        find_notebooks(tmp_path, ["03"])
    with pytest.raises(BookError, match="no chapter notebooks"):
        find_notebooks(tmp_path / "nothing_here")


def test_planned_outputs_depend_on_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    import cbec.book.runner

    twin_only = cbec.book.runner.PlannedOutput("02_b", "Figure 2.9", "fig_x.png", "x", "twin")
    real_only = cbec.book.runner.PlannedOutput("01_a", "Figure 1.9", "fig_y.png", "y", "real")
    both = cbec.book.runner.PlannedOutput("01_a", "Table 1.9", "tab_z.csv", "z")
    monkeypatch.setattr(cbec.book.runner, "OUTPUTS", (twin_only, real_only, both))
    assert planned_outputs("twin") == [twin_only, both]
    assert planned_outputs("real") == [real_only, both]
    assert planned_outputs("real", ["02_b"]) == []
    assert planned_outputs("twin", ["02_b"]) == [twin_only]


def test_planned_outputs_are_well_formed() -> None:
    files = [o.file for o in OUTPUTS]
    assert len(files) == len(set(files))
    stems = {p.stem for p in find_notebooks(REPO_ROOT / "notebooks")}
    for o in OUTPUTS:
        assert o.notebook in stems, o
        assert o.profile in (None, "twin", "real"), o
        kind, chapter = o.label.split(" ")[0], o.label.split(" ")[1].split(".")[0]
        assert kind in ("Figure", "Table") and o.file.startswith(kind[:3].lower() + "_"), o
        assert o.notebook.startswith(chapter.zfill(2) + "_"), o


@pytest.mark.parametrize("doc", ["book/replication_map.md", "README.md"])
def test_replication_map_lists_every_output(doc: str) -> None:
    """The replication map and the README list exactly cbec.book.runner.OUTPUTS, with functions."""
    text = (REPO_ROOT / doc).read_text(encoding="utf-8")
    listed = set(re.findall(r"`((?:fig|tab)_\w+\.(?:png|csv|tex|html))`", text))
    assert listed == {o.file for o in OUTPUTS}
    for o in OUTPUTS:
        row = next(ln for ln in text.splitlines() if ln.startswith("|") and f"`{o.file}`" in ln)
        assert o.label in row and o.notebook in row and o.function in row, row


def test_every_cited_key_is_in_the_bibliography() -> None:
    bib = (REPO_ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.MULTILINE)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    sources = [*sorted((REPO_ROOT / "book").glob("*.md"))]
    sources += sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    cited = {
        key.strip()
        for path in sources
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text(encoding="utf-8"))
        for key in group.split(",")
    }
    assert "zhang2023cbec" in cited
    assert not cited - set(keys), f"cited but not in references.bib: {sorted(cited - set(keys))}"


def test_output_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deep" / "outputs"
    monkeypatch.setenv("CBEC_OUTPUT_DIR", str(target))
    assert output_dir() == target and target.is_dir()
    monkeypatch.delenv("CBEC_OUTPUT_DIR")
    assert output_dir() == REPO_ROOT / "_build" / "outputs"


def test_banner_names_the_data() -> None:
    twin = banner_text(Spec(seed=7, fast=True))
    assert twin.startswith("Built on the SYNTHETIC twin (seed 7, fast mode)")
    real = banner_text(Spec(profile="real", data_dir="/data/<mine>"), skipped=["02_b"])
    assert "real yearbook panel (data fingerprint" in real and "SYNTHETIC" not in real
    assert "/data/" not in real  # stamps show the data fingerprint, never a local path
    assert real.endswith("Partial build: not executed: 02_b.")


# ------------------------------------------------------------------- real data


@pytest.mark.real
@pytest.mark.skipif(not os.environ.get("CBEC_REAL_DATA"), reason="CBEC_REAL_DATA is not set")
def test_notebooks_run_on_the_real_panel(tmp_path: Path) -> None:
    """Every chapter executes without error on the real panel (fast mode)."""
    data_dir = Path(os.environ["CBEC_REAL_DATA"]) / "city_panel_gp"
    build_dir = tmp_path / "_build"
    proc = _cli(
        "run", "--profile", "real", "--data-dir", str(data_dir), "--fast",
        "--build-dir", str(build_dir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stems = [p.name[:2] for p in find_notebooks(REPO_ROOT / "notebooks")]
    for stem in stems:
        (path,) = (build_dir / "executed").glob(f"{stem}_*.ipynb")
        nb = nbformat.read(path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], path.name
        text = " ".join(str(o.get("text", "")) for o in outputs)
        assert "Data: real yearbook panel" in text, f"{path.name} did not run on the real panel"
    # the baseline table and the event study come out, with finite estimates
    out = build_dir / "outputs"
    missing = [o.file for o in planned_outputs("real") if not (out / o.file).is_file()]
    assert not missing, missing
    baseline = pd.read_csv(out / "tab_baseline.csv")
    did_row = baseline[baseline.iloc[:, 0].astype(str).str.startswith("DID")]
    assert len(did_row) == 1 and did_row.iloc[0, 1:].astype(str).str.match(r"-?\d").all()
    es = pd.read_csv(out / "tab_event_study.csv")
    assert es["event_time"].tolist() == list(range(-5, 4))
    assert np.isfinite(es["coef"]).all() and (es.loc[es["event_time"] != -1, "se"] > 0).all()
    assert es["truth"].isna().all() if "truth" in es else True


# ------------------------------------------------------------------- downloads


def test_download_line_goes_right_under_the_first_heading() -> None:
    line = download_line("01_a")
    assert line == (
        "Download this chapter: {download}`notebook (.ipynb) <_downloads/01_a.ipynb>` · "
        "{download}`text notebook (.md) <_downloads/01_a.md>`"
    )
    fenced = "```python\n# a comment, not a heading\n```\n\n(ch-a)=\n## Title\n\n\nText."
    nb = new_notebook(
        cells=[new_code_cell("x = 1"), new_markdown_cell("No heading here."),
               new_markdown_cell(fenced), new_markdown_cell("# Later")]
    )  # fmt: skip
    insert_download_line(nb, "LINE")
    assert nb.cells[2].source == fenced.replace("## Title\n\n\n", "## Title\n\nLINE\n\n")
    assert [c.source for c in nb.cells[:2]] == ["x = 1", "No heading here."]
    assert nb.cells[3].source == "# Later"
    # a title that ends the cell; a notebook without any heading gets a first cell
    nb = new_notebook(cells=[new_markdown_cell("#Not a heading\n# Title")])
    insert_download_line(nb, "LINE")
    assert nb.cells[0].source == "#Not a heading\n# Title\n\nLINE"
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    insert_download_line(nb, "LINE")
    assert [(c.cell_type, c.source) for c in nb.cells] == [("markdown", "LINE"), ("code", "x = 1")]


def test_download_copies_drop_the_injected_cell_and_keep_outputs() -> None:
    injected = new_code_cell("seed = 7", metadata={"tags": [INJECTED_TAG, "remove-cell"]})
    shown = new_code_cell("print(seed)", execution_count=3, metadata={"papermill": {"x": 1}})
    shown.outputs = [new_output("stream", name="stdout", text="7\n")]
    nb = new_notebook(cells=[new_markdown_cell("# T"), PARAMS, injected, shown])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
    before = nbformat.writes(nb)
    copy, text = download_copies(nb)
    assert nbformat.writes(nb) == before, "the executed notebook was changed"
    assert [c.source for c in copy.cells] == ["# T", PARAMS.source, "print(seed)"]
    assert copy.cells[2].outputs[0]["text"] == "7\n" and copy.cells[2].metadata["papermill"]
    assert "papermill" not in text and "7\n" not in text.split("print(seed)")[1]
    assert "seed = 7" not in text
    back = jupytext.reads(text, fmt="md:myst")
    assert [(c.cell_type, c.source) for c in back.cells] == [
        ("markdown", "# T"),
        ("code", PARAMS.source),
        ("code", "print(seed)"),
    ]
    assert back.cells[1].metadata["tags"] == ["parameters"]


def test_cli_without_command_prints_help() -> None:
    proc = _cli()
    assert proc.returncode == 2 and "book" in proc.stdout
