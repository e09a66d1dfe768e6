"""Rambachan-Roth sensitivity (cbec.estimators.honest) against R HonestDiD's own output.

Reference: ``tests/reference/honestdid_bcdata_r.json`` (R HonestDiD on its BCdata example,
with the R calls that produced the numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cbec.estimators import honest

REF = json.loads((Path(__file__).parent / "reference" / "honestdid_bcdata_r.json").read_text())
B = np.array(REF["input"]["betahat"])
S = np.array(REF["input"]["sigma"])


def test_r_random_numbers() -> None:
    # R: set.seed(0); rnorm(3) / set.seed(42); rnorm(2) / set.seed(0); runif(3)
    assert np.allclose(honest.RNormal(0).draw(3), [1.262954285, -0.326233361, 1.329799263])
    assert np.allclose(honest.RNormal(42).draw(2), [1.370958447, -0.564698171])
    assert np.allclose(honest.RNormal(0).uniform(3), [0.8966972, 0.2655087, 0.3721239], atol=1e-7)


def test_original_ci_equals_r() -> None:
    lb, ub = honest.original_ci(B, S, 4, 4)
    assert lb == pytest.approx(REF["originalCS"]["lb"], abs=1e-10)
    assert ub == pytest.approx(REF["originalCS"]["ub"], abs=1e-10)


@pytest.mark.parametrize("i", range(4))
def test_relative_magnitudes_equal_r(i: int) -> None:
    rm = REF["deltaRM"]
    res = honest.rm_confidence_set(B, S, 4, 4, rm["Mbar"][i])
    assert res.lb == pytest.approx(rm["lb"][i], abs=1e-3)
    assert res.ub == pytest.approx(rm["ub"][i], abs=1e-3)


@pytest.mark.parametrize("i", range(4))
def test_smoothness_equals_r(i: int) -> None:
    sd = REF["deltaSD"]
    res = honest.sd_confidence_set(B, S, 4, 4, sd["M"][i])
    assert res.lb == pytest.approx(sd["lb"][i], abs=1e-3)
    assert res.ub == pytest.approx(sd["ub"][i], abs=1e-3)


@pytest.mark.parametrize("mbar", [0.3, 1.2])
def test_vectorised_grid_equals_loop(mbar: float) -> None:
    a = honest.rm_confidence_set(B, S, 4, 4, mbar, grid_points=120)
    b = honest.rm_confidence_set(B, S, 4, 4, mbar, grid_points=120, vectorized=False)
    assert (a.lb, a.ub) == (b.lb, b.ub)


def test_sets_grow_with_mbar_and_contain_original_at_zero_violation() -> None:
    widths = [
        (r.ub - r.lb)
        for r in (honest.rm_confidence_set(B, S, 4, 4, m, grid_points=300) for m in (0.5, 1, 2))
    ]
    assert widths[0] < widths[1] < widths[2]


def test_rm_constraints_by_hand() -> None:
    # n_pre = 2, n_post = 1, s = 0, positive: delta = (d_-2, d_-1, d_1), d_0 = 0.
    # first differences f = (d_-1 - d_-2, 0 - d_-1, d_1 - 0); bound by f_s = (0 - d_-1)
    a = honest.rm_constraints(2, 1, 2.0, 0, True)
    # the pre-period change at s = 0 must be the largest one, post changes at most 2x it
    delta = np.array([-0.2, -0.5, 0.9])  # f = (-0.3, 0.5, 0.9)
    assert (a @ delta <= 1e-12).all()
    assert (a @ np.array([0.3, -0.5, 0.9]) > 0).any()  # |f_-1| = 0.8 > f_0 = 0.5
    bad = np.array([-0.2, -0.5, 1.1])  # |f_1| = 1.1 > 2 * 0.5
    assert (a @ bad > 0).any()


def test_breakdown() -> None:
    t = pd.DataFrame({"method": "RM", "param": [0, 0.5, 1.0], "lb": [0.1, 0.02, -0.1],
                      "ub": [0.3, 0.4, 0.5]})  # fmt: skip
    assert honest.breakdown(t, "RM") == 1.0
    assert honest.breakdown(t.assign(lb=0.1), "RM") != honest.breakdown(t.assign(lb=0.1), "RM")
    assert honest.breakdown(t.assign(lb=-0.1), "RM") == 0.0
