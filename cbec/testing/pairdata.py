"""A small generator of city-pair x year panels for tests, benchmarks and simulation studies.

The frame follows the input contract of :mod:`cbec.estimators.fe` and :mod:`cbec.estimators.placebo`:
``pair_id, city_i, city_j, year, treated, pilot_city, cluster_city, treat_year, did``, the
outcome and optional controls. Pilots adopt in staggered years; pilot-pilot pairs are left
out, as in the paper's design. The outcome is

    y_ijt = a_ij + b_t + effect * did_ijt + x_ijt' gamma + u_it + u_jt + e_ijt,

with city-year shocks ``u`` so that pairs sharing a city are correlated (dyadic dependence).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd


@dataclass
class PairData:
    """A generated panel with the pieces the placebo engine needs."""

    df: pd.DataFrame
    pilots: pd.DataFrame  # city_id, treat_year
    cities: np.ndarray  # universe of city ids
    effect: float
    controls: tuple[str, ...]


def make_pair_panel(
    n_cities: int = 30,
    years: range = range(2010, 2016),
    n_pilots: int = 6,
    adopt_years: tuple[int, ...] = (2012, 2013, 2015),
    effect: float = 0.3,
    n_controls: int = 2,
    n_pairs: int | None = None,
    drop_share: float = 0.0,
    city_shock_sd: float = 0.5,
    noise_sd: float = 1.0,
    outcome: str = "syn",
    seed: int = 0,
) -> PairData:
    """Build a random pair-year panel with staggered adoption and a known effect.

    Parameters
    ----------
    n_cities, years, n_pilots, adopt_years
        Universe size, panel years, number of pilot cities and the years they adopt in.
    effect
        True coefficient of ``did``.
    n_controls
        Number of controls ``x1, x2, ...`` (the first is correlated with ``did``).
    n_pairs
        Keep this many of the eligible pairs (chosen at random); ``None`` keeps all.
    drop_share
        Share of pair-years dropped at random (an unbalanced panel when > 0).
    city_shock_sd, noise_sd
        Standard deviations of the city-year shocks and of the idiosyncratic error.
    outcome
        Name of the outcome column.
    seed
        Seed of :func:`numpy.random.default_rng`.
    """
    rng = np.random.default_rng(seed)
    years_arr = np.asarray(years, dtype=np.int64)
    cities = np.sort(rng.choice(np.arange(110_000, 660_000, 100), n_cities, replace=False))
    pilot_ids = np.sort(rng.choice(cities, n_pilots, replace=False))
    pilot_year = dict(
        zip(pilot_ids.tolist(), rng.choice(adopt_years, n_pilots).tolist(), strict=True)
    )
    is_pilot = np.isin(cities, pilot_ids)

    ii, jj = np.array(list(combinations(range(n_cities), 2))).T
    keep = ~(is_pilot[ii] & is_pilot[jj])
    ii, jj = ii[keep], jj[keep]
    if n_pairs is not None:
        if n_pairs > ii.size:
            raise ValueError(f"n_pairs={n_pairs} but only {ii.size} eligible pairs")
        pick = np.sort(rng.choice(ii.size, n_pairs, replace=False))
        ii, jj = ii[pick], jj[pick]
    n_p, n_t = ii.size, years_arr.size

    ci, cj = cities[ii], cities[jj]
    pilot_city = np.where(is_pilot[ii], ci, np.where(is_pilot[jj], cj, -1))
    treated = (pilot_city >= 0).astype(np.int64)
    treat_year = np.array([float(pilot_year[c]) if c >= 0 else np.nan for c in pilot_city.tolist()])
    pair = pd.DataFrame(
        {
            "pair_id": np.arange(1, n_p + 1, dtype=np.int64),
            "city_i": ci,
            "city_j": cj,
            "treated": treated,
            "pilot_city": np.where(treated == 1, pilot_city, np.nan).astype(float),
            "cluster_city": np.where(treated == 1, pilot_city, ci).astype(np.int64),
            # province of the cluster city: the first two digits of its code
            "cluster_province": np.where(treated == 1, pilot_city, ci).astype(np.int64) // 10000,
            "treat_year": treat_year,
        }
    )
    df = pair.loc[np.repeat(np.arange(n_p), n_t)].reset_index(drop=True)
    df["year"] = np.tile(years_arr, n_p)
    df["did"] = ((df["treated"] == 1) & (df["year"] >= df["treat_year"])).astype(float)

    # city-year shocks shared by every pair that contains the city
    shock = rng.normal(0.0, city_shock_sd, size=(n_cities, n_t))
    t_idx = np.tile(np.arange(n_t), n_p)
    i_idx, j_idx = np.repeat(ii, n_t), np.repeat(jj, n_t)
    a_pair = np.repeat(rng.normal(0.0, 1.0, n_p), n_t)
    b_year = np.tile(rng.normal(0.0, 0.5, n_t), n_p)
    y = a_pair + b_year + effect * df["did"].to_numpy() + shock[i_idx, t_idx] + shock[j_idx, t_idx]
    names = tuple(f"x{k + 1}" for k in range(n_controls))
    for k, name in enumerate(names):
        x = rng.normal(0.0, 1.0, df.shape[0]) + 0.5 * a_pair
        if k == 0:
            x = x + 0.6 * df["did"].to_numpy()
        df[name] = x
        y = y + (0.5 if k % 2 == 0 else -0.3) * x
    df[outcome] = y + rng.normal(0.0, noise_sd, df.shape[0])

    if drop_share > 0:
        keep_rows = rng.random(df.shape[0]) >= drop_share
        df = df.loc[keep_rows].reset_index(drop=True)

    pilots = pd.DataFrame(
        {"city_id": pilot_ids, "treat_year": [float(pilot_year[c]) for c in pilot_ids.tolist()]}
    )
    cols = [
        "pair_id",
        "city_i",
        "city_j",
        "year",
        "treated",
        "pilot_city",
        "cluster_city",
        "cluster_province",
        "treat_year",
        "did",
        outcome,
        *names,
    ]
    return PairData(df=df[cols], pilots=pilots, cities=cities, effect=effect, controls=names)
