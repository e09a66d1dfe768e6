"""Rewrite ``tests/golden/headline.json``, the default twin's headline numbers, on purpose.

Run from the repository root after a change that is meant to move them::

    python scripts/update_golden.py          # prints what moved, then writes the file
    python scripts/update_golden.py --check  # prints what moved, writes nothing (exit 1)

The numbers come from :func:`cbec.analyses.headline.headline_numbers` on ``Spec()``; the
golden test (``tests/test_golden.py``) fails with the same list until the file is rewritten.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cbec.analyses.headline import compare, headline_numbers

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "headline.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; do not write")
    args = parser.parse_args(argv)
    got = headline_numbers()
    old = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.is_file() else {}
    moved = compare(got, old)
    print("\n".join(moved) if moved else "headline numbers unchanged")
    if args.check:
        return 1 if moved else 0
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
