"""Downloads that read well in plain JupyterLab: the book's MyST markup turned into Markdown.

The book's pages use MyST roles and directives (``{glue:text}``, ``{numref}``, ``{exercise}``,
``:::{admonition}``...) that only Jupyter Book renders; opened in JupyterLab without the
jupyterlab-myst extension they show as raw markup and the glued numbers vanish.
:func:`plain_notebook` rewrites every markdown cell of an executed notebook:

- ``{glue:text}`key:fmt``` becomes the value glued under ``key`` in this notebook, formatted;
- a ``{glue:md}`` block becomes the glued Markdown (the tables), a ``{glue:figure}`` block the
  glued image as a cell attachment with its caption;
- ``{numref}``, ``{ref}``, ``{doc}``, ``{cite}`` roles become plain text, MyST labels
  ``(name)=`` are dropped;
- admonitions, exercises, solutions and numbered tables become a bold title and their text.

Nothing else changes: code cells, their outputs and the metadata stay as executed.
"""

from __future__ import annotations

import ast
import copy
import re
from typing import Any

_RECORD = "application/papermill.record/"

_ROLE = re.compile(r"\{(numref|ref|doc|cite|cite:p|cite:t|eq|term|download)\}`([^`]*)`")
_GLUE_TEXT = re.compile(r"\{glue:text\}`([^`]+)`|\{glue\}`([^`]+)`")
_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
_LABEL = re.compile(r"^\([\w-]+\)=\s*$")
_OPTION = re.compile(r"^:[\w-]+:(\s.*)?$")

_TITLES = {
    "exercise": "Exercise",
    "solution": "Solution",
    "admonition": "",
    "note": "Note",
    "tip": "Tip",
    "warning": "Warning",
    "important": "Important",
    "seealso": "See also",
}


def glued_values(nb: Any) -> dict[str, dict[str, Any]]:
    """Every value glued in ``nb``: key -> {mime type: data} (papermill record mimes)."""
    out: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if not name:
                continue
            data = o.get("data", {})
            out[name] = {k[len(_RECORD) :]: v for k, v in data.items() if k.startswith(_RECORD)}
    return out


def _text_value(record: dict[str, Any], fmt: str) -> str:
    plain = record.get("text/plain", "")
    try:
        value = ast.literal_eval(plain)
    except (ValueError, SyntaxError):
        value = plain
    if fmt:
        try:
            return format(value, fmt)
        except (ValueError, TypeError):
            pass
    return str(value)


def _role_text(kind: str, body: str) -> str:
    if kind.startswith("cite"):
        return "(" + ", ".join(k.strip() for k in body.split(",")) + ")"
    m = re.fullmatch(r"(.*?)\s*<([^>]+)>", body)  # {ref}`text <target>`
    if m:
        return m.group(1)
    if kind == "numref":
        kinds = {"fig": "Figure", "tab": "Table", "ex": "Exercise", "eq": "Equation"}
        head, _, rest = body.partition("-")
        if head in kinds and rest:
            return f"{kinds[head]} “{rest.replace('-', ' ')}”"
    return body.split("/")[-1].replace("-", " ") if kind in ("doc", "ref", "numref") else body


def inline(text: str, glue: dict[str, dict[str, Any]]) -> str:
    """Substitute glued values and flatten the MyST roles of one block of text."""

    def glue_sub(m: re.Match[str]) -> str:
        spec = m.group(1) or m.group(2)
        key, _, fmt = spec.partition(":")
        key = key.split("::")[-1]
        if key not in glue:
            return f"`{key}`"
        return _text_value(glue[key], fmt)

    text = _GLUE_TEXT.sub(glue_sub, text)
    return _ROLE.sub(lambda m: _role_text(m.group(1), m.group(2)), text)


def plain_markdown(source: str, glue: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """One markdown cell in plain Markdown, and the attachments its images need."""
    lines = source.splitlines()
    out: list[str] = []
    attachments: dict[str, Any] = {}
    stack: list[str] = []  # closing fences of the open directives
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stack and stripped == stack[-1]:
            stack.pop()
            out.append("")
            i += 1
            continue
        m = _FENCE_OPEN.match(stripped)
        if m:
            name, arg, fence = m["name"], m["arg"].strip(), m["fence"]
            body: list[str] = []
            j = i + 1
            while j < len(lines) and _OPTION.match(lines[j].strip()):
                body.append(lines[j].strip())
                j += 1
            options = dict(
                (o.split(":")[1], o.split(":", 2)[2].strip()) for o in body if o.count(":") >= 2
            )
            if name in ("glue:md", "glue:figure", "glue"):
                # the block is the glued object; a figure keeps its caption (the block text)
                k = j
                caption: list[str] = []
                while k < len(lines) and lines[k].strip() != fence:
                    caption.append(lines[k])
                    k += 1
                record = glue.get(arg, {})
                if name == "glue:md" or "text/markdown" in record:
                    out.append(inline(str(record.get("text/markdown", f"`{arg}`")), glue))
                elif "image/png" in record:
                    attachments[f"{arg}.png"] = {"image/png": record["image/png"]}
                    alt = options.get("alt", arg).replace("]", ")")
                    out.append(f"![{alt}](attachment:{arg}.png)")
                    if caption:
                        out.append("")
                        words = " ".join(c.strip() for c in caption if c.strip())
                        out.append("*" + inline(words, glue) + "*")
                else:
                    out.append(f"`{arg}`")
                i = k + 1
                continue
            title = _TITLES.get(name, name.replace(":", " ").capitalize())
            if name == "table":
                title = "Table"
            if name == "solution":
                arg = ""  # its argument is the exercise's label, not a title
            heading = ": ".join(t for t in (title, inline(arg, glue)) if t)
            out.append(f"**{heading}**" if heading else "")
            out.append("")
            stack.append(fence)
            i = j
            continue
        if _LABEL.match(stripped):
            i += 1
            continue
        out.append(inline(line, glue))
        i += 1
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    if text == source.strip():
        return source, attachments  # nothing MyST-specific: the cell stays as it was
    return text + "\n", attachments


def plain_notebook(nb: Any) -> Any:
    """A copy of ``nb`` whose markdown cells are plain Markdown (see the module docstring)."""
    glue = glued_values(nb)
    plain = copy.deepcopy(nb)
    for cell in plain.cells:
        if cell.cell_type != "markdown":
            continue
        text, attachments = plain_markdown(cell.source, glue)
        cell.source = text
        if attachments:
            cell["attachments"] = {**cell.get("attachments", {}), **attachments}
    return plain
