"""A small pair-year panel in the input contract of the event study (tests, simulations).

Cities ``1..n_pilots`` are pilots, the rest are not. Treated pairs join a pilot to a
non-pilot city; control pairs join two non-pilots; pilot-pilot pairs are left out, as in the
paper. Pilot city ``c`` is designated in ``treat_years[c % len(treat_years)]``. The outcome is

    syn = pair effect + year effect + city-year shocks of both cities + tau + pretrend + noise,

with ``tau`` the true effect by event time (``effects[k]``, constant beyond the last key,
zero before designation) and ``pretrend * event_time`` added to treated pair-years before
designation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def make_es_panel(
    n_pilots: int = 8,
    n_others: int = 30,
    years: Sequence[int] = tuple(range(2010, 2020)),
    treat_years: Sequence[float] = (2015,),
    effects: Mapping[int, float] | None = None,
    pretrend: float = 0.0,
    noise: float = 0.3,
    city_shock: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Generate the panel (see the module docstring)."""
    rng = np.random.default_rng(seed)
    effects = dict(effects if effects is not None else {0: 0.5, 1: 0.8, 2: 1.0})
    cities = np.arange(1, n_pilots + n_others + 1)
    pilots = cities[:n_pilots]
    others = cities[n_pilots:]
    city_treat = {int(c): float(treat_years[int(c) % len(treat_years)]) for c in pilots}

    pi, pj = np.meshgrid(pilots, others, indexing="ij")
    ti, tj = np.triu_indices(others.size, k=1)
    city_i = np.concatenate([pi.ravel(), others[ti]])
    city_j = np.concatenate([pj.ravel(), others[tj]])
    treated = np.concatenate([np.ones(pi.size, int), np.zeros(ti.size, int)])
    n_pairs = city_i.size
    pairs = pd.DataFrame(
        {
            "pair_id": np.arange(n_pairs) + 1000,
            "city_i": city_i,
            "city_j": city_j,
            "treated": treated,
        }
    )
    pairs["pilot_city"] = np.where(treated == 1, city_i, np.nan)
    pairs["cluster_city"] = city_i.astype(int)
    pairs["treat_year"] = pairs["pilot_city"].map(city_treat).astype(float)
    pairs["alpha"] = rng.normal(0.0, 1.0, n_pairs)
    pairs["x1_base"] = rng.normal(0.0, 1.0, n_pairs)

    yrs = np.asarray(years, dtype=int)
    df = pairs.loc[pairs.index.repeat(yrs.size)].reset_index(drop=True)
    df["year"] = np.tile(yrs, n_pairs)
    df["event_time"] = df["year"] - df["treat_year"]
    df["did"] = ((df["treated"] == 1) & (df["event_time"] >= 0)).astype(float)

    keys = sorted(effects)
    e = df["event_time"].to_numpy()
    tau = np.zeros(len(df))
    post = np.nan_to_num(e, nan=-1.0) >= 0
    e_cap = np.minimum(np.nan_to_num(e, nan=-1.0), max(keys)).astype(int)
    lookup = np.array([effects.get(k, 0.0) for k in range(max(keys) + 1)])
    tau[post] = lookup[e_cap[post]]
    df["tau"] = tau

    year_fe = dict(zip(yrs.tolist(), rng.normal(0.0, 1.0, yrs.size), strict=True))
    shock = rng.normal(0.0, city_shock, (cities.size + 1, yrs.size))
    col = df["year"].to_numpy() - yrs[0]
    pre = (df["treated"].to_numpy() == 1) & (np.nan_to_num(e, nan=0.0) < 0)
    df["syn"] = (
        df["alpha"].to_numpy()
        + df["year"].map(year_fe).to_numpy()
        + shock[df["city_i"].to_numpy(), col]
        + shock[df["city_j"].to_numpy(), col]
        + tau
        + np.where(pre, pretrend * np.nan_to_num(e, nan=0.0), 0.0)
        + rng.normal(0.0, noise, len(df))
    )
    df["x1"] = df["x1_base"] + rng.normal(0.0, 0.5, len(df))
    return df.drop(columns=["alpha", "x1_base"])
