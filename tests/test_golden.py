"""The default twin's headline numbers against the committed golden file.

A code change that moves any headline number (Table 2.1's coefficients and standard errors,
the true ATT, the pre-trend test, the placebo p-value, the 153,230 pair-years) fails here
with the list of what moved. If the move is intended, rewrite the file on purpose with
``python scripts/update_golden.py`` and say why in the commit message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbec.analyses.headline import compare, headline_numbers

GOLDEN = Path(__file__).resolve().parent / "golden" / "headline.json"


def test_compare_lists_what_moved() -> None:
    want = {"a": 1.0, "n": 3, "gone": 2.0}
    got = {"a": 1.0 + 1e-12, "n": 4, "new": 5.0}
    assert compare(got, want) == ["gone: gone (2.0)", "n: 3 -> 4", "new: new (5.0)"]
    assert compare(want, want) == []
    assert compare({"a": 1.001}, {"a": 1.0}) == ["a: 1.0 -> 1.001"]


@pytest.mark.slow
def test_headline_numbers_match_the_golden_file() -> None:
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = headline_numbers()
    assert got["pair_years"] == 153_230
    moved = compare(got, want)
    assert not moved, (
        "headline numbers moved (rewrite on purpose with `python scripts/update_golden.py`):\n"
        + "\n".join(moved)
    )
