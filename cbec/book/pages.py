"""Sphinx extension: book pages whose content is generated when the book is built.

A page of ``book/`` may hold a marker line that this extension replaces while Sphinx reads
the page (``source-read``), so that the page always shows the current code and results
instead of a copy that goes stale:

``<!-- cbec:twin-model -->``
    the docstring of :mod:`cbec.data.twin` (the twin's equations), as reStructuredText;
``<!-- cbec:claims -->``
    the table of the paper's claims beside the replication (:mod:`cbec.outputs.claims`),
    read from the claim records the notebooks of this build wrote into ``<stage>/outputs``.

Loaded through ``sphinx.extra_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TWIN_MARKER = "<!-- cbec:twin-model -->"
CLAIMS_MARKER = "<!-- cbec:claims -->"

_UNDERLINE = re.compile(r"^(?P<title>[^\n]+)\n(?P<rule>[-=~^]{3,})\n", re.MULTILINE)


def rst_without_sections(text: str) -> str:
    """A numpydoc docstring with its section titles turned into bold paragraphs.

    Section titles cannot appear inside a directive (``{eval-rst}``), so ``Model\\n-----``
    becomes ``**Model**``.
    """
    import inspect

    text = inspect.cleandoc(text)
    return _UNDERLINE.sub(
        lambda m: (
            f"**{m['title'].strip()}**\n\n" if len(m["rule"]) >= len(m["title"].strip()) else m[0]
        ),
        text,
    )


def twin_model_markdown() -> str:
    """The twin's docstring in an ``{eval-rst}`` block (cross-references as plain literals)."""
    from cbec.data import twin

    doc = rst_without_sections(twin.__doc__ or "")
    # Sphinx cross-reference roles to code would point nowhere in this book: show the names
    doc = re.sub(r":(?:func|class|data|mod|meth|attr|obj):`~?([^`]+)`", r"``\1``", doc)
    fence = "````"
    return f"{fence}{{eval-rst}}\n{doc}\n{fence}\n"


def claims_markdown(outputs: Path) -> str:
    """The claims table of the build whose notebooks wrote ``outputs``."""
    from cbec.outputs import claims

    explicit = claims.load_records(outputs)
    profiles = {r.get("profile") for r in explicit.values()}
    profile = "real" if profiles == {"real"} else "twin"
    return claims.markdown(claims.claims_table(claims.load_all(outputs, profile), profile))


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    text = source[0]
    if TWIN_MARKER in text:
        text = text.replace(TWIN_MARKER, twin_model_markdown())
    if CLAIMS_MARKER in text:
        text = text.replace(CLAIMS_MARKER, claims_markdown(Path(app.srcdir) / "outputs"))
    source[0] = text


def _dedupe_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Drop repeated ``<script>`` entries from a page.

    sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) once per
    ``env-before-read-docs`` event, which Jupyter Book fires twice: the second copy throws
    "Identifier 'THEBE_JS_URL' has already been declared" in the browser on every page.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    kept = []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (str(getattr(js, "filename", None) or ""), str(attrs.get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    """Connect the marker replacement (``source-read``) and the script de-duplication."""
    app.connect("source-read", _source_read)
    app.connect("html-page-context", _dedupe_scripts, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ------------------------------------------------------------------ repository and launch


def remote_url(source_dir: Path) -> str:
    """``git remote get-url origin`` of ``source_dir`` as an https URL, or "" without one."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(source_dir), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    url = proc.stdout.strip() if proc.returncode == 0 else ""
    ssh = re.fullmatch(r"git@([^:]+):(.+?)(?:\.git)?", url)
    if ssh:
        url = f"https://{ssh[1]}/{ssh[2]}"
    url = re.sub(r"\.git$", "", url)
    return url if url.startswith("https://") else ""


def repository_settings(config: dict[str, Any], source_dir: Path) -> str:
    """Fill in (or switch off) the repository and launch buttons of a book config in place.

    The URL is ``repository.url`` of ``_config.yml`` when set, else the git remote
    ``origin`` of ``source_dir``. Without either, every button that would link to the
    repository (repository, issues, edit page) and every launch button is switched off, so
    that no button points at a repository that does not exist. Returns the URL used ("").
    """
    repo = config.setdefault("repository", {}) or {}
    config["repository"] = repo
    url = str(repo.get("url") or "").strip() or remote_url(source_dir)
    html = config.setdefault("html", {})
    if url:
        repo["url"] = url
        return url
    repo.pop("url", None)
    for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        html[key] = False
    config["launch_buttons"] = {
        "binderhub_url": "",
        "jupyterhub_url": "",
        "colab_url": "",
        "thebe": False,
    }
    return ""
