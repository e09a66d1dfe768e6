"""The papermill runner and the Jupyter Book build of the replication book.

One call builds the whole book from a clean state::

    python -m cbec book [--profile twin|real] [--data-dir DIR] [--seed N] [--fast]
                        [--only 01,02] [--build-dir _build]

and ``python -m cbec run`` does the same without the HTML. The steps:

1. copy the book sources (``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``) into a fresh
   staging folder ``<build-dir>/.stage-<pid>``;
2. execute the chapter notebooks ``notebooks/NN_*.ipynb`` in order with papermill, injecting
   the parameters ``profile``, ``data_dir``, ``seed`` and ``fast`` and setting
   ``CBEC_OUTPUT_DIR=<stage>/outputs`` (see :func:`output_dir`); stop at the first failure and
   name the notebook, the cell and the exception;
3. write each chapter's two downloads into ``<stage>/notebooks/_downloads/``, the executed
   notebook and its MyST Markdown text notebook (jupytext), and link them under the chapter's
   title and in the theme's download menu (:func:`add_downloads`);
4. write the data banner ("Built on the SYNTHETIC twin ...") into the staged ``_config.yml``
   and run ``jupyter-book build <stage> --builder html -W --keep-going`` (notebooks are not
   executed again: ``execute_notebooks: "off"``);
5. only when every step succeeded, move the new ``html/``, ``outputs/`` and ``executed/``
   folders into ``<build-dir>`` by renames; otherwise the previous good book is left as it
   was and the failed stage is kept in ``<build-dir>/failed`` for inspection.

With ``--only``, each other chapter notebook is taken from the last good build when that copy
was made with the same parameters from the same notebook source; otherwise it appears
unexecuted (code without outputs), warnings are not fatal and the banner says "Partial build".

The planned tables and figures of every chapter are listed in :data:`OUTPUTS` (the replication
map of the book and the README list the same files); the book test checks that a build wrote
each of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cbec.outputs.publish import ENV_OUTPUT_DIR
from cbec.spec import Spec

#: Root of the repository (the folder holding ``_config.yml``).
REPO_ROOT = Path(__file__).resolve().parents[2]


#: Files and folders copied into the staging folder; together they are the book's source.
BOOK_SOURCES: tuple[str, ...] = ("_config.yml", "_toc.yml", "book", "notebooks")

#: Chapter notebooks: two digits, an underscore, a name.
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

#: Jupyter kernel that executes the notebooks (``make env`` registers it inside ``.venv``).
KERNEL_NAME = "python3"

#: Key of the runner's record in an executed notebook's metadata.
RUNNER_KEY = "cbec_runner"

#: Tag papermill puts on the cell it injects; the runner adds ``remove-cell`` to it.
INJECTED_TAG = "injected-parameters"

#: Folder (inside the staged ``notebooks/``) of each chapter's two downloads: the executed
#: notebook ``<stem>.ipynb`` and its MyST Markdown text notebook ``<stem>.md``.
DOWNLOADS_DIR = "_downloads"

#: Opening words of the download line the runner puts under each chapter's title.
DOWNLOAD_LINE = "Download this chapter:"

#: Jupytext format of the text notebook (MyST Markdown; code cells as ``{code-cell}``).
TEXT_FORMAT = "md:myst"

#: Cell metadata papermill adds (timings, status); left out of the text notebook.
EXECUTION_METADATA: tuple[str, ...] = ("papermill", "execution")


class PlannedOutput(NamedTuple):
    """One table or figure file a chapter notebook writes into :func:`output_dir`.

    Attributes
    ----------
    notebook
        Stem of the notebook that writes it, e.g. ``"02_baseline_did"``.
    label
        Its name in the book, e.g. ``"Table 2.1"``.
    file
        File name inside the output folder.
    title
        What it shows.
    profile
        ``None`` when every profile writes it; ``"real"`` when only the real panel does.
    function
        The ``cbec`` function that computes what the output shows.
    """

    notebook: str
    label: str
    file: str
    title: str
    profile: str | None = None
    function: str = ""


#: Folder of the output manifest: one CSV per chapter notebook (``NN_name.csv``) with the
#: columns ``label, file, title, profile, function``. A figure's ``:name:`` in its notebook is the
#: file stem with hyphens (``fig_pilot_map.png`` -> ``fig-pilot-map``), a table's likewise
#: (``tab-sample``); the book test checks that the label here is the number the built book gives
#: that name.
MANIFEST_DIR = Path(__file__).resolve().parent / "manifest"


def load_manifest(folder: Path = MANIFEST_DIR) -> tuple[PlannedOutput, ...]:
    """Read every planned table and figure from the manifest CSVs, in notebook order."""
    import csv

    rows: list[PlannedOutput] = []
    for path in sorted(folder.glob("[0-9][0-9]_*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                rows.append(
                    PlannedOutput(
                        path.stem,
                        r["label"],
                        r["file"],
                        r["title"],
                        r["profile"] or None,
                        r["function"],
                    )
                )
    return tuple(rows)


#: Every planned table and figure: notebook, label, file (the replication map in machine form).
OUTPUTS: tuple[PlannedOutput, ...] = load_manifest()


def planned_outputs(
    profile: str = "twin", notebooks: Iterable[str] | None = None
) -> list[PlannedOutput]:
    """The planned outputs a build on ``profile`` must write.

    Parameters
    ----------
    profile
        ``"twin"`` or ``"real"``; outputs marked for the other profile are left out.
    notebooks
        Notebook stems to keep (all when ``None``).
    """
    keep = None if notebooks is None else set(notebooks)
    return [
        o for o in OUTPUTS if o.profile in (None, profile) and (keep is None or o.notebook in keep)
    ]


# ---------------------------------------------------------------------------- errors


class BookError(RuntimeError):
    """A failure of the build that the command line reports without a traceback."""


class InvalidOptions(BookError):
    """The options name something that does not exist (a notebook, a data folder)."""


class BuildLocked(BookError):
    """Another build holds the build folder's lock (see :func:`build_lock`)."""


class NotebookFailed(BookError):
    """A chapter notebook raised while papermill executed it.

    Attributes
    ----------
    notebook
        File name of the notebook.
    cell
        1-based position of the failing cell in the source notebook (markdown cells count).
    exec_count
        Its execution count, the ``In [n]`` Jupyter shows.
    ename, evalue
        Exception class name and message.
    source
        Source of the failing cell.
    executed_copy
        Where the partly executed notebook was kept.
    """

    def __init__(
        self,
        notebook: str,
        cell: int,
        exec_count: int | None,
        ename: str,
        evalue: str,
        source: str,
        executed_copy: Path | None = None,
    ) -> None:
        self.notebook = notebook
        self.cell = cell
        self.exec_count = exec_count
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.executed_copy = executed_copy
        super().__init__(self.message())

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """Notebook, cell and exception in a few lines."""
        first = next((ln for ln in self.source.splitlines() if ln.strip()), "")
        evalue = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]", "", self.evalue)
        lines = [
            f"notebook {self.notebook} failed in cell {self.cell} (In [{self.exec_count}]): "
            f"{self.ename}: {evalue}",
            f"  cell starts: {first[:100]}",
        ]
        if self.executed_copy is not None:
            lines.append(f"  partly executed notebook: {self.executed_copy}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class BuildOptions:
    """What to build and where.

    Parameters
    ----------
    spec
        Data profile, data folder, seed and fast mode (other fields are not used here:
        each notebook builds its own ``Spec`` from the injected parameters).
    build_dir
        Folder that receives ``html/``, ``outputs/``, ``executed/`` and ``build.json``.
    only
        Notebook prefixes to execute (``("01", "03")``), or ``None`` for all.
    source_dir
        Root of the book sources (the repository by default).
    html
        Build the HTML (``book``) or only execute the notebooks (``run``).
    overrides
        Other ``Spec`` fields for every notebook, ``"scenario=siphon cluster=dyadic"``
        (``make book SET="..."``); validated by :meth:`Spec.parse_overrides` and injected as
        the papermill parameter ``overrides`` (empty: not injected).
    lock_wait
        Seconds to wait for another build's lock on ``build_dir`` before giving up
        (:func:`build_lock`); 0 stops at once.
    """

    spec: Spec
    build_dir: Path
    only: tuple[str, ...] | None = None
    source_dir: Path = REPO_ROOT
    html: bool = True
    overrides: str = ""
    lock_wait: float = 0.0

    @property
    def parameters(self) -> dict[str, Any]:
        """The papermill parameters injected into every notebook."""
        params: dict[str, Any] = {
            "profile": self.spec.profile,
            "data_dir": self.spec.data_dir,
            "seed": self.spec.seed,
            "fast": self.spec.fast,
        }
        if self.overrides.strip():
            params["overrides"] = self.overrides.strip()
        return params


def banner_text(spec: Spec, skipped: Sequence[str] = (), when: datetime | None = None) -> str:
    """The data banner shown on top of every page (HTML).

    Parameters
    ----------
    spec
        Profile, data folder, seed and fast mode of the build.
    skipped
        Notebooks a partial build (``--only``) shows unexecuted.
    when
        Build time (now by default).
    """
    when = when or datetime.now()
    mode = ", fast mode" if spec.fast else ""
    if spec.is_synthetic:
        text = (
            f"Built on the SYNTHETIC twin (seed {spec.seed}{mode}) on {when:%Y-%m-%d}: "
            "every number here is simulated, not the paper's data."
        )
    else:
        from cbec.spec import data_fingerprint

        text = (
            f"Built on a real yearbook panel (data fingerprint "
            f"{data_fingerprint(str(spec.data_dir))[:12]}, seed {spec.seed}{mode}) "
            f"on {when:%Y-%m-%d}."
        )
    if skipped:
        text += " Partial build: not executed: " + ", ".join(skipped) + "."
    return html.escape(text, quote=False)


# ----------------------------------------------------------------------------- helpers


def find_notebooks(notebook_dir: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Chapter notebooks ``NN_*.ipynb`` in order, optionally only some.

    Parameters
    ----------
    notebook_dir
        Folder of the notebooks.
    only
        Prefixes such as ``"01"``, stems or file names; each must match exactly one notebook.

    Raises
    ------
    InvalidOptions
        When there is no notebook, or a prefix matches none or several.
    """
    found = sorted(notebook_dir.glob(NOTEBOOK_GLOB))
    if not found:
        raise InvalidOptions(f"no chapter notebooks matching {NOTEBOOK_GLOB} in {notebook_dir}")
    if not only:
        return found
    chosen: list[Path] = []
    for item in only:
        key = item.strip().removesuffix(".ipynb")
        hits = [p for p in found if p.stem == key or p.stem.split("_", 1)[0] == key]
        if len(hits) != 1:
            names = ", ".join(p.name for p in found)
            what = "matches no notebook" if not hits else "matches several notebooks"
            raise InvalidOptions(f"--only {item!r} {what}; available: {names}")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return sorted(chosen)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (mtime_ns, size) of every file under ``folder``."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    }


@contextlib.contextmanager
def _kernel_environment(output_folder: Path) -> Iterator[None]:
    """Environment the notebook kernels inherit, restored afterwards.

    ``CBEC_OUTPUT_DIR`` points at the stage's output folder; ``MPLBACKEND`` is removed because
    a non-inline backend silently turns glued figures into "<Figure size ...>" text.
    """
    saved = {k: os.environ.get(k) for k in (ENV_OUTPUT_DIR, "MPLBACKEND")}
    os.environ[ENV_OUTPUT_DIR] = str(output_folder)
    os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _papermill_warnings() -> Iterator[list[str]]:
    """Collect papermill's warnings (e.g. "Passed unknown parameter") instead of printing them.

    The runner prints them after the notebook's progress line, so they do not break it.
    """
    collected: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(record.getMessage())

    logger = logging.getLogger("papermill")
    handler = _Collect(level=logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield collected
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _copy_sources(source_dir: Path, stage: Path) -> None:
    """Copy the book sources into ``stage`` (no checkpoints, caches or builds)."""
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "_build", ".*.swp")
    for name in BOOK_SOURCES:
        src = source_dir / name
        if not src.exists():
            raise BookError(f"book source {src} is missing")
        if src.is_dir():
            shutil.copytree(src, stage / name, ignore=ignore)
        else:
            shutil.copy2(src, stage / name)


def _load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump_yaml(data: Any, path: Path) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _write_stage_config(stage: Path, banner: str) -> None:
    """Put the data banner into the staged ``_config.yml`` (and keep execution off).

    The downloads folder is excluded from the pages (the ``{download}`` role still copies
    its files) and this module is loaded as a Sphinx extension: see :func:`setup`.
    """
    config_path = stage / "_config.yml"
    config = _load_yaml(config_path) or {}
    config.setdefault("html", {})["announcement"] = banner
    from cbec.book.pages import repository_settings

    repository_settings(config, REPO_ROOT)  # buttons only when a repository URL is known
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    excluded = list(config.get("exclude_patterns") or [])
    config["exclude_patterns"] = [*excluded, f"notebooks/{DOWNLOADS_DIR}"]
    sphinx = config.setdefault("sphinx", {})
    extensions = list(sphinx.get("extra_extensions") or [])
    sphinx["extra_extensions"] = [*extensions, __name__]
    _dump_yaml(config, config_path)


def _reusable(
    previous: Path, source: Path, parameters: dict[str, Any], old_outputs: Path
) -> list[str] | None:
    """Output files of a previous executed copy that may stand in for ``source``, else None."""
    if not previous.is_file():
        return None
    try:
        record = json.loads(previous.read_text(encoding="utf-8"))["metadata"][RUNNER_KEY]
    except (KeyError, ValueError):
        return None
    if record.get("parameters") != parameters or record.get("source_sha256") != _sha256(source):
        return None
    files = list(record.get("outputs", []))
    if not all((old_outputs / f).is_file() for f in files):
        return None
    return files


@dataclass(frozen=True)
class Executed:
    """What executing one notebook produced.

    Attributes
    ----------
    outputs
        Output files (relative to the output folder) the notebook created or changed.
    warnings
        Papermill's warnings, e.g. a parameter the notebook's ``parameters`` cell lacks.
    stderr_cells
        1-based positions (in the executed notebook) of cells that wrote to stderr: the
        book shows stderr on the page, so a clean chapter has none.
    """

    outputs: list[str]
    warnings: list[str]
    stderr_cells: list[int]


def execute_notebook(
    source: Path, target: Path, parameters: dict[str, Any], output_folder: Path
) -> Executed:
    """Execute one notebook with papermill and record what it wrote.

    Parameters
    ----------
    source
        The notebook to run (its folder is the working directory).
    target
        Where the executed notebook is written (also on failure).
    parameters
        Injected after the cell tagged ``parameters``.
    output_folder
        ``CBEC_OUTPUT_DIR`` for the kernel.

    Returns
    -------
    Executed
        The output files it wrote and papermill's warnings.

    Raises
    ------
    NotebookFailed
        When a cell raises.
    """
    import nbformat
    import papermill as pm

    before = _snapshot(output_folder)
    with _kernel_environment(output_folder), _papermill_warnings() as warnings:
        try:
            pm.execute_notebook(
                str(source),
                str(target),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                cwd=str(source.parent),
                # the kernel's own log (unencrypted-TCP notice, interrupt at shutdown) is noise
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
        except pm.PapermillExecutionError as err:
            raise _failure(source, target, err) from None
    after = _snapshot(output_folder)
    written = sorted(k for k, v in after.items() if before.get(k) != v)

    nb = nbformat.read(target, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nb.metadata[RUNNER_KEY] = {
        "parameters": parameters,
        "source_sha256": _sha256(source),
        "outputs": written,
    }
    nbformat.write(nb, target)
    stderr_cells = [
        i
        for i, cell in enumerate(nb.cells, start=1)
        if any(o.get("name") == "stderr" for o in cell.get("outputs", []))
    ]
    return Executed(outputs=written, warnings=list(warnings), stderr_cells=stderr_cells)


def _failure(source: Path, target: Path, err: Any) -> NotebookFailed:
    """Translate papermill's error (cell index in the executed notebook) to the source cell."""
    index = int(err.cell_index)
    with contextlib.suppress(Exception):
        import nbformat

        executed = nbformat.read(target, as_version=4)
        # papermill's index counts its injected cell but not its later error markers
        real = [
            c
            for c in executed.cells
            if "papermill-error-cell-tag" not in c.metadata.get("tags", [])
        ]
        if any(INJECTED_TAG in c.metadata.get("tags", []) for c in real[:index]):
            index -= 1
    return NotebookFailed(
        notebook=source.name,
        cell=index + 1,
        exec_count=err.exec_count,
        ename=str(err.ename),
        evalue=str(err.evalue),
        source=str(err.source),
    )


# --------------------------------------------------------------------------- downloads


def download_copies(nb: Any) -> tuple[Any, str]:
    """The two downloads of an executed chapter notebook.

    Parameters
    ----------
    nb
        The executed notebook (``nbformat.NotebookNode``); it is not changed.

    Returns
    -------
    notebook : nbformat.NotebookNode
        The notebook as the page shows it: the cell papermill injected is removed (the
        parameters stay recorded in the notebook metadata), outputs are kept, and the MyST
        markup of its markdown cells is plain Markdown with the glued values filled in
        (:func:`cbec.book.plain.plain_notebook`), so that plain JupyterLab renders it.
    text : str
        The same notebook in jupytext's MyST Markdown format (:data:`TEXT_FORMAT`): no
        outputs, and without papermill's per-cell timings (:data:`EXECUTION_METADATA`).
    """
    import copy

    import jupytext

    shown = copy.deepcopy(nb)
    shown.cells = [c for c in shown.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    from cbec.book.plain import plain_notebook

    # plain JupyterLab shows MyST raw: glued values filled in, directives as plain Markdown
    shown = plain_notebook(shown)
    plain = copy.deepcopy(shown)
    for cell in plain.cells:
        for key in EXECUTION_METADATA:
            cell.metadata.pop(key, None)
    return shown, jupytext.writes(plain, fmt=TEXT_FORMAT)


def download_line(stem: str) -> str:
    """The MyST line linking a chapter's two downloads (paths relative to ``notebooks/``)."""
    where = f"{DOWNLOADS_DIR}/{stem}"
    return (
        f"{DOWNLOAD_LINE} {{download}}`notebook (.ipynb) <{where}.ipynb>` · "
        f"{{download}}`text notebook (.md) <{where}.md>`"
    )


def _first_heading(source: str) -> int | None:
    """Index of the first ATX heading line (``# ...``) outside fenced blocks, else None."""
    fence = ""
    for i, line in enumerate(source.splitlines()):
        stripped = line.lstrip()
        marker = next((m for m in ("```", "~~~", ":::") if stripped.startswith(m)), "")
        if fence:
            if marker and stripped.startswith(fence) and not stripped[len(fence) :].strip():
                fence = ""
            continue
        if marker:
            fence = stripped[: len(stripped) - len(stripped.lstrip(marker[0]))]
            continue
        if re.match(r"#{1,6}[ \t]+\S", line):
            return i
    return None


def insert_download_line(nb: Any, line: str) -> None:
    """Put ``line`` right after the notebook's first heading, as a paragraph of its own.

    The heading is looked for in the markdown cells in order; a notebook without one gets
    the line as a new first markdown cell. ``nb`` is changed in place.
    """
    from nbformat.v4 import new_markdown_cell

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        at = _first_heading(cell.source)
        if at is None:
            continue
        lines = cell.source.splitlines()
        rest = lines[at + 1 :]
        while rest and not rest[0].strip():
            rest = rest[1:]
        cell.source = "\n".join([*lines[: at + 1], "", line, *([""] + rest if rest else [])])
        return
    nb.cells.insert(0, new_markdown_cell(line))


def add_downloads(page: Path) -> tuple[Path, Path]:
    """Write a staged chapter's downloads and link them under its title.

    Parameters
    ----------
    page
        The staged (executed) notebook ``<stage>/notebooks/<stem>.ipynb``.

    Returns
    -------
    tuple of pathlib.Path
        ``<stage>/notebooks/_downloads/<stem>.ipynb`` and ``<stem>.md``, written from the
        notebook before the download line was added to ``page`` (see :func:`download_copies`).
    """
    import nbformat

    nb = nbformat.read(page, as_version=4)
    shown, text = download_copies(nb)
    folder = page.parent / DOWNLOADS_DIR
    folder.mkdir(exist_ok=True)
    ipynb, md = folder / f"{page.stem}.ipynb", folder / f"{page.stem}.md"
    nbformat.write(shown, ipynb)
    md.write_text(text, encoding="utf-8")
    insert_download_line(nb, download_line(page.stem))
    nbformat.write(nb, page)
    return ipynb, md


def _theme_download_buttons(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Offer a chapter's two downloads in the theme's download menu.

    On a page that links ``_downloads/<stem>.ipynb`` and ``.md`` (see :func:`download_line`),
    the menu's source entry (the staged ``.ipynb``, with papermill's injected cell) is pointed
    at the downloadable notebook and a ``.md`` entry is added after it. Connected by
    :func:`setup` after sphinx-book-theme has filled ``context["header_buttons"]``.
    """
    if doctree is None:
        return
    from sphinx import addnodes

    stem = pagename.rsplit("/", 1)[-1]
    targets = {
        node["reftarget"].rsplit(".", 1)[-1]: node["filename"]
        for node in doctree.findall(addnodes.download_reference)
        if node.get("filename")
        and node["reftarget"] in (f"{DOWNLOADS_DIR}/{stem}.ipynb", f"{DOWNLOADS_DIR}/{stem}.md")
    }
    group = next(
        (b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"),
        None,
    )
    if group is None or set(targets) != {"ipynb", "md"}:
        return
    base = context["pathto"]("_downloads", 1)
    theirs = ("download-source-button", "download-notebook-button")
    ours = [
        {
            "type": "link",
            "url": f"{base}/{targets['ipynb']}",
            "text": ".ipynb",
            "tooltip": "Download the executed notebook",
            "icon": "fas fa-code",
            "label": "download-notebook-button",
        },
        {
            "type": "link",
            "url": f"{base}/{targets['md']}",
            "text": ".md",
            "tooltip": "Download the text notebook (MyST Markdown; opens with jupytext)",
            "icon": "fas fa-file-lines",
            "label": "download-text-notebook-button",
        },
    ]
    group["buttons"] = [*ours, *(b for b in group["buttons"] if b.get("label") not in theirs)]


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension hook: the staged book loads ``cbec.book`` (:func:`_write_stage_config`).

    Adds the chapters' downloads to sphinx-book-theme's download menu
    (:func:`_theme_download_buttons`, after the theme's own handler at priority 501).
    """
    app.connect("html-page-context", _theme_download_buttons, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _jupyter_book() -> str:
    """The ``jupyter-book`` executable next to this Python, else on PATH."""
    here = Path(sys.executable).with_name("jupyter-book")
    if here.is_file():
        return str(here)
    found = shutil.which("jupyter-book")
    if not found:
        raise BookError("jupyter-book is not installed here; run `make env` first")
    return found


def build_html(stage: Path, strict: bool = True, log_shown_as: Path | None = None) -> Path:
    """Run ``jupyter-book build`` on the stage and return its HTML folder.

    Parameters
    ----------
    stage
        The staged book (executed notebooks in place).
    strict
        Warnings are errors (``-W --keep-going``); only partial builds turn this off.
    log_shown_as
        Where the caller keeps the log after a failure (named in the error message). The
        full log is written to ``<stage>/jupyter-book.log``.

    Raises
    ------
    BookError
        When the build fails; the message quotes the warnings.
    """
    log_path = stage / "jupyter-book.log"
    cmd = [_jupyter_book(), "build", str(stage), "--builder", "html", "--keep-going"]
    if strict:
        cmd.append("-W")
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=stage, check=False)
    html_dir = stage / "_build" / "html"
    if proc.returncode != 0 or not (html_dir / "index.html").is_file():
        text = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        problems = [ln for ln in text if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        shown = "\n".join(f"  {ln}" for ln in (problems or text[-20:])[:40])
        raise BookError(
            f"jupyter-book build failed (exit {proc.returncode}); warnings count as errors:\n"
            f"{shown}\n  full log: {log_shown_as or log_path}"
        )
    return html_dir


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest`` by renames, replacing any previous ``dest``."""
    trash = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    shutil.rmtree(trash, ignore_errors=True)
    if dest.exists():
        os.replace(dest, trash)
    try:
        os.replace(new, dest)
    except OSError:
        if trash.exists():
            os.replace(trash, dest)
        raise
    shutil.rmtree(trash, ignore_errors=True)


# ------------------------------------------------------------------------------ runner

#: Lock file inside the build folder held for the whole build (:func:`build_lock`).
LOCK_NAME = ".build.lock"


@contextlib.contextmanager
def build_lock(build_dir: Path, wait: float = 0.0, poll: float = 0.5) -> Iterator[None]:
    """Hold an exclusive lock on ``build_dir`` for a whole build.

    A second build into the same folder waits up to ``wait`` seconds, then raises
    :class:`BuildLocked` naming the process that holds it; so two builds never publish into
    the same folder at once and the book is never a mix of two runs. The lock is an
    ``fcntl.flock`` on ``<build_dir>/.build.lock``: the system releases it when the holder
    exits, even after a crash, so a stale lock file never blocks a build.
    """
    import fcntl

    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / LOCK_NAME
    fh = path.open("a+")
    deadline = time.monotonic() + max(wait, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise BuildLocked(
                        f"another build (pid {holder}) is using the build folder "
                        f"{build_dir.name}/; wait for it to finish, pass --wait SECONDS, "
                        "or use another --build-dir"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


def run_book(options: BuildOptions, log: Callable[[str], None] | None = None) -> Path:
    """Execute the notebooks and (for ``book``) build the HTML; publish only on success.

    The whole build holds the build folder's lock (:func:`build_lock`; a concurrent build
    waits ``options.lock_wait`` seconds, then raises :class:`BuildLocked`). A good build
    removes the ``failed/`` folder a previous failed build left.

    Parameters
    ----------
    options
        What to build and where.
    log
        Receives the progress text (default: printed to stdout and flushed).

    Returns
    -------
    pathlib.Path
        ``<build-dir>/html/index.html`` for a book, ``<build-dir>/executed`` for a run.

    Raises
    ------
    NotebookFailed
        A notebook raised; nothing was published.
    InvalidOptions
        A notebook or data folder named in the options does not exist.
    BookError
        A failed HTML build; nothing was published.
    """
    say = log or (lambda text: print(text, end="", flush=True))
    t_start = time.perf_counter()
    spec, params = options.spec, options.parameters
    if spec.profile == "real" and not Path(str(spec.data_dir)).is_dir():
        raise InvalidOptions(f"the data folder {spec.data_dir} does not exist")

    build_dir = options.build_dir.resolve()
    source_dir = options.source_dir.resolve()
    every = find_notebooks(source_dir / "notebooks")
    selected = find_notebooks(source_dir / "notebooks", options.only)
    build_dir.mkdir(parents=True, exist_ok=True)
    lock = contextlib.ExitStack()  # released in the finally below
    lock.enter_context(build_lock(build_dir, options.lock_wait))

    stage = build_dir / f".stage-{os.getpid()}"
    ok = False
    try:
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        _copy_sources(source_dir, stage)
        outputs = stage / "outputs"
        outputs.mkdir()
        data = "synthetic twin" if spec.is_synthetic else f"real panel {spec.data_dir}"
        say(
            f"{'book' if options.html else 'run'}: {len(selected)} of {len(every)} notebooks "
            f"on the {data}, seed {spec.seed}{', fast mode' if spec.fast else ''}\n"
        )
        t_nb = time.perf_counter()
        not_executed: list[str] = []
        for i, nb in enumerate(every, start=1):
            staged = stage / "notebooks" / nb.name
            head = f"[{i}/{len(every)}] {nb.name} ... "
            if nb not in selected:
                previous = build_dir / "executed" / nb.name
                files = _reusable(previous, nb, params, build_dir / "outputs")
                if files is None:
                    say(f"{head}not executed (no executed copy with these parameters)\n")
                    not_executed.append(nb.stem)
                    continue
                shutil.copy2(previous, staged)
                for f in files:
                    (outputs / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(build_dir / "outputs" / f, outputs / f)
                say(f"{head}reused from the last build\n")
                continue
            say(head)
            t0 = time.perf_counter()
            try:
                done = execute_notebook(nb, staged, params, outputs)
            except NotebookFailed as err:
                say(f"FAILED after {time.perf_counter() - t0:.1f} s\n")
                err.executed_copy = build_dir / "failed" / "notebooks" / nb.name
                raise
            say(f"ok {time.perf_counter() - t0:.1f} s\n")
            for text in dict.fromkeys(done.warnings):
                say(f"      papermill: {text}\n")
            if done.stderr_cells:
                cells = ", ".join(map(str, done.stderr_cells))
                say(f"      note: stderr output (shown on the page) in cells {cells}\n")
            planned = planned_outputs(spec.profile, [nb.stem])
            missing = [o.file for o in planned if o.file not in done.outputs]
            if missing:
                say(f"      note: planned outputs not written: {', '.join(missing)}\n")
        t_nb = time.perf_counter() - t_nb

        t_html = 0.0
        pages: dict[Path, bytes] = {}
        if options.html:
            # each page links its downloads; executed/ keeps the notebooks as papermill left them
            for nb in every:
                staged = stage / "notebooks" / nb.name
                pages[staged] = staged.read_bytes()
                add_downloads(staged)
            banner = banner_text(spec, not_executed)
            if options.overrides.strip():
                banner += " Changed choices: " + html.escape(options.overrides.strip()) + "."
            _write_stage_config(stage, banner)
            strict = not not_executed
            say("html ... " if strict else "html (partial build: warnings not fatal) ... ")
            t0 = time.perf_counter()
            try:
                html_dir = build_html(stage, strict, build_dir / "failed" / "jupyter-book.log")
            except BookError:
                say("FAILED\n")
                raise
            t_html = time.perf_counter() - t0
            say(f"ok {t_html:.1f} s\n")
            _replace_dir(html_dir, build_dir / "html")
            for staged, data in pages.items():
                staged.write_bytes(data)
            shutil.rmtree(stage / "notebooks" / DOWNLOADS_DIR)
        _replace_dir(outputs, build_dir / "outputs")
        _replace_dir(stage / "notebooks", build_dir / "executed")
        record = {
            "command": "book" if options.html else "run",
            "parameters": params,
            "not_executed": not_executed,
            "finished": datetime.now().isoformat(timespec="seconds"),
            "seconds": {"notebooks": round(t_nb, 1), "html": round(t_html, 1)},
        }
        (build_dir / "build.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        ok = True
    finally:
        if ok:
            shutil.rmtree(stage, ignore_errors=True)
            shutil.rmtree(build_dir / "failed", ignore_errors=True)  # stale failed stage
        elif stage.exists():
            failed = build_dir / "failed"
            shutil.rmtree(failed, ignore_errors=True)
            os.replace(stage, failed)
        lock.close()

    total = time.perf_counter() - t_start
    if options.html:
        index = build_dir / "html" / "index.html"
        say(f"book: {index}  (total {total:.1f} s)\n")
        return index
    say(f"executed notebooks: {build_dir / 'executed'}  (total {total:.1f} s)\n")
    return build_dir / "executed"
