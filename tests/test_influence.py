"""Variances from per-pair influence functions (cbec.estimators.influence)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec.estimators import influence, staggered


def random_pairs(n_cities: int = 12, n_pairs: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    allp = [(i, j) for i in range(n_cities) for j in range(i + 1, n_cities)]
    pick = rng.choice(len(allp), n_pairs, replace=False)
    ci, cj = np.array([allp[k] for k in pick]).T
    return pd.DataFrame({"pair_id": np.arange(n_pairs), "city_i": ci, "city_j": cj,
                         "cluster_city": ci})  # fmt: skip


def test_dyadic_equals_bruteforce_double_sum() -> None:
    units = random_pairs()
    psi = np.random.default_rng(1).normal(size=(len(units), 3))
    brute = influence.dyadic_bruteforce(psi, units["city_i"], units["city_j"])
    fast = influence.if_vcov(psi, units, "dyadic", ssc=False)
    assert np.allclose(fast, brute, atol=1e-12)
    g = len(set(units["city_i"]) | set(units["city_j"]))
    assert np.allclose(influence.if_vcov(psi, units, "dyadic"), brute * g / (g - 1))


def test_twoway_and_pair_by_hand() -> None:
    units = random_pairs(seed=2)
    psi = np.random.default_rng(3).normal(size=(len(units), 1))

    def meat(col: str) -> float:
        s = pd.Series(psi[:, 0]).groupby(units[col].to_numpy()).sum()
        return float((s**2).sum())

    tw = influence.if_vcov(psi, units, "twoway", ssc=False)[0, 0]
    assert tw == pytest.approx(meat("city_i") + meat("city_j") - meat("pair_id"))
    assert influence.if_vcov(psi, units, "pair", ssc=False)[0, 0] == pytest.approx(
        float((psi**2).sum())
    )


def test_star_and_disjoint_pairs() -> None:
    star = pd.DataFrame({"pair_id": range(5), "city_i": 0, "city_j": range(1, 6),
                         "cluster_city": 0})  # fmt: skip
    psi = np.array([[1.0], [2.0], [-0.5], [0.3], [0.7]])
    assert influence.if_vcov(psi, star, "dyadic", ssc=False)[0, 0] == pytest.approx(psi.sum() ** 2)
    disjoint = pd.DataFrame({"pair_id": range(5), "city_i": range(0, 10, 2),
                             "city_j": range(1, 10, 2), "cluster_city": range(0, 10, 2)})  # fmt: skip
    assert influence.if_vcov(psi, disjoint, "dyadic", ssc=False)[0, 0] == pytest.approx(
        float((psi**2).sum())
    )


def test_dyadic_for_estimators_on_small_panel() -> None:
    from tests.test_staggered import make_panel

    df = make_panel(n_cities=14, n_pilots=4, seed=5)
    for res in (staggered.cs_influence(df), staggered.imputation_influence(df)):
        psi = res.psi.to_numpy()
        brute = influence.dyadic_bruteforce(psi, res.units["city_i"], res.units["city_j"])
        fast = np.asarray(influence.if_vcov(res.psi, res.units, "dyadic", ssc=False))
        assert np.allclose(fast, brute, rtol=1e-10, atol=1e-14)
        # the influence functions sum to (nearly) zero: estimate - plim to first order
        assert abs(psi[:, 0].sum()) < 1e-8


def test_rejects_bad_input() -> None:
    units = random_pairs()
    with pytest.raises(ValueError, match="kind"):
        influence.if_vcov(np.ones((len(units), 1)), units, "province")
    with pytest.raises(ValueError, match="finite"):
        influence.if_vcov(np.full((len(units), 1), np.nan), units, "dyadic")
