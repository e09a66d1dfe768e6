"""Rewrite the output tables of README.md and book/replication_map.md from the manifest.

The manifest (``cbec/book/manifest/NN_name.csv``) is the one list of every table and figure;
this script writes the two human-readable copies of it, so they cannot drift (the book test
checks that they list exactly the manifest):

    .venv/bin/python scripts/list_outputs.py          # rewrite both files
    .venv/bin/python scripts/list_outputs.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cbec.book.runner import OUTPUTS

REPO = Path(__file__).resolve().parents[1]
HEADER = "| Label | Content | Notebook | Output file | `cbec` function |"


def rows(doc: str) -> list[str]:
    out = []
    for o in OUTPUTS:
        if doc == "README.md":
            nb = f"`notebooks/{o.notebook}.ipynb`"
        else:
            nb = f"{{doc}}`../notebooks/{o.notebook}`"
        title = o.title
        if o.profile == "real" and "real" not in title.lower():
            title += " (real profile only)"
        if o.profile == "twin" and "twin" not in title.lower():
            title += " (twin only)"
        out.append(f"| {o.label} | {title} | {nb} | `{o.file}` | `{o.function}` |")
    return out


def rewrite(path: Path, doc: str) -> str:
    lines = path.read_text(encoding="utf-8").split("\n")
    start = lines.index(HEADER)
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[start + 2 : end] = rows(doc)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only check, write nothing")
    args = ap.parse_args()
    stale = []
    for doc in ("README.md", "book/replication_map.md"):
        path = REPO / doc
        new = rewrite(path, doc)
        if new != path.read_text(encoding="utf-8"):
            stale.append(doc)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if stale:
        print(("out of date: " if args.check else "rewrote: ") + ", ".join(stale))
    return 1 if (stale and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
