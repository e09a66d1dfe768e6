"""City pairs: construction, economic ties, the weak-tie filter, treatment timing, outcomes.

The unit of the paper is the unordered city pair x year [paper]. A pair is *treated* when
exactly one of its two cities is a pilot city (of batches 1..``spec.last_batch``), a
*control* when neither is; pilot-pilot pairs are excluded. Pairs whose gravity tie score

.. math:: F_{ij} = (P_i G_i S_i A_i)^{1/4} (P_j G_j S_j A_j)^{1/4} / D_{ij}^2

is at or below the ``spec.tie_quantile`` quantile (the median in the paper) are dropped.
The score is computed once, from base-year values, so the filter is time-invariant and the
panel stays balanced: on the paper's 254 cities with 55 pilots this gives
55 x 199 + C(199, 2) = 30,646 candidate pairs, 15,323 kept, 153,230 pair-years.

Functions here take plain frames and return plain frames; the outcome itself is computed
by :mod:`cbec.study.measures` on the city-level development index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cbec.data.geo import city_mass, gravity_tie, haversine_km
from cbec.spec import Spec
from cbec.study import measures

#: Columns of the pair table (one row per pair) produced by :func:`candidate_pairs`.
PAIR_COLUMNS = (
    "pair_id",
    "city_i",
    "city_j",
    "pos_i",
    "pos_j",
    "treated",
    "pilot_city",
    "partner_city",
    "cluster_city",
    "treat_year",
    "batch",
    "later_pilot",
    "distance_km",
    "province_i",
    "province_j",
    "cluster_province",
    "region_pair",
)


def candidate_pairs(universe: pd.DataFrame) -> pd.DataFrame:
    """All unordered pairs of the study's cities except pilot-pilot pairs.

    Parameters
    ----------
    universe
        One row per city, sorted by ``city_id``, with columns ``city_id``, ``lon``,
        ``lat``, ``pilot`` (bool), ``treat_year`` (Int64, NA when not treated inside the
        window), ``batch`` and ``later_batch`` (Int64), as returned by
        :func:`cbec.data.reference.select_universe`.

    Returns
    -------
    pandas.DataFrame
        One row per pair with :data:`PAIR_COLUMNS`. ``city_i < city_j`` always;
        ``pos_i``/``pos_j`` are the cities' row positions in ``universe``.
        ``pilot_city``/``partner_city`` are set on treated pairs only;
        ``cluster_city`` is the pilot city of a treated pair and ``city_i`` of a control
        pair (the "by city" clustering of the headline errors); ``cluster_province`` is
        that city's province (the first two digits of its code), ``province_i/j`` the two
        cities' provinces, and ``region_pair`` a code of the unordered pair of the two
        cities' ``region4`` (0 when the universe has no regions).
    """
    required = {"city_id", "lon", "lat", "pilot", "treat_year", "batch", "later_batch"}
    missing = required - set(universe.columns)
    if missing:
        raise ValueError(f"universe lacks columns {sorted(missing)}")
    ids = universe["city_id"].to_numpy(dtype=np.int64)
    if np.any(np.diff(ids) <= 0):
        raise ValueError("universe must be sorted by city_id with unique codes")
    pilot = universe["pilot"].to_numpy(dtype=bool)
    n = len(ids)
    pi, pj = np.triu_indices(n, k=1)
    keep = ~(pilot[pi] & pilot[pj])
    pi, pj = pi[keep], pj[keep]
    treated = pilot[pi] ^ pilot[pj]
    pilot_pos = np.where(pilot[pi], pi, pj)
    partner_pos = np.where(pilot[pi], pj, pi)

    treat_year = universe["treat_year"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    batch = universe["batch"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    later = universe["later_batch"].notna().to_numpy()
    lon = universe["lon"].to_numpy(dtype=float)
    lat = universe["lat"].to_numpy(dtype=float)

    out = pd.DataFrame(
        {
            "pair_id": np.arange(len(pi), dtype=np.int64),
            "city_i": ids[pi],
            "city_j": ids[pj],
            "pos_i": pi.astype(np.int64),
            "pos_j": pj.astype(np.int64),
            "treated": treated.astype(np.int8),
            "pilot_city": np.where(treated, ids[pilot_pos], np.nan),
            "partner_city": np.where(treated, ids[partner_pos], np.nan),
            "cluster_city": np.where(treated, ids[pilot_pos], ids[pi]).astype(np.int64),
            "treat_year": np.where(treated, treat_year[pilot_pos], np.nan),
            "batch": np.where(treated, batch[pilot_pos], np.nan),
            "later_pilot": (later[pi] | later[pj]).astype(np.int8),
            "distance_km": haversine_km(lon[pi], lat[pi], lon[pj], lat[pj]),
        }
    )
    # province (first two digits of the administrative code) and the unordered pair of
    # regions, for province clustering and region-pair x year effects
    prov = ids // 10000
    out["province_i"] = prov[pi]
    out["province_j"] = prov[pj]
    out["cluster_province"] = prov[np.where(treated, pilot_pos, pi)]
    if "region4" in universe.columns:
        reg = pd.factorize(universe["region4"].astype(str), sort=True)[0].astype(np.int64)
        lo_r, hi_r = np.minimum(reg[pi], reg[pj]), np.maximum(reg[pi], reg[pj])
        out["region_pair"] = lo_r * 10 + hi_r
    else:
        out["region_pair"] = 0
    if (out["distance_km"] <= 0).any():
        bad = out.loc[out["distance_km"] <= 0, ["city_i", "city_j"]].iloc[0].tolist()
        raise ValueError(f"two cities share coordinates: {bad}")
    return out


def tie_scores(pairs: pd.DataFrame, base: pd.DataFrame) -> np.ndarray:
    """Gravity tie score of every pair from base-year city values.

    Parameters
    ----------
    pairs
        Output of :func:`candidate_pairs`.
    base
        One row per universe city, in universe order, with ``pop``, ``gdp``,
        ``land_area`` and ``admin_rank``.
    """
    for col in ("pop", "gdp", "land_area", "admin_rank"):
        if col not in base.columns:
            raise ValueError(f"tie score needs column {col!r} in the base-year frame")
        bad = base[col].isna() | (base[col] <= 0)
        if bad.any():
            cities = base.loc[bad, "city_id"].tolist() if "city_id" in base else "?"
            raise ValueError(f"tie score: {col} missing or non-positive for cities {cities}")
    mass = city_mass(base["pop"], base["gdp"], base["land_area"], base["admin_rank"])
    return gravity_tie(
        mass[pairs["pos_i"].to_numpy()], mass[pairs["pos_j"].to_numpy()], pairs["distance_km"]
    )


def tie_filter(tie: np.ndarray, quantile: float) -> tuple[np.ndarray, float]:
    """Keep pairs whose tie score is strictly above the ``quantile`` of all scores.

    ``quantile=0`` keeps every pair. Returns the boolean mask and the cut-off (numpy's
    default linear interpolation, so the median of an even count is the mean of the two
    middle scores and exactly half the pairs survive when no scores tie).
    """
    tie = np.asarray(tie, dtype=float)
    if quantile <= 0:
        return np.ones(tie.shape, dtype=bool), -np.inf
    cut = float(np.quantile(tie, quantile))
    return tie > cut, cut


def expand_years(pairs: pd.DataFrame, years: Sequence[int]) -> pd.DataFrame:
    """The balanced pair x year panel with treatment timing.

    Adds ``year``, ``post`` (treated and ``year >= treat_year``), ``did`` (the same as
    float, the regressor), ``event_time`` (``year - treat_year``, NaN for controls) and,
    when the pairs carry ``region_pair``, ``region_pair_year`` (its interaction with the
    year, the fixed effect of ``Spec.year_effects="region_pair_year"``).
    Rows are ordered pair-major (all years of pair 0, then pair 1, ...).
    """
    years = np.asarray(list(years), dtype=np.int64)
    n_p, n_t = len(pairs), len(years)
    panel = pairs.loc[pairs.index.repeat(n_t)].reset_index(drop=True)
    panel["year"] = np.tile(years, n_p)
    ty = panel["treat_year"].to_numpy()
    yr = panel["year"].to_numpy()
    with np.errstate(invalid="ignore"):
        post = (panel["treated"].to_numpy() == 1) & (yr >= ty)
    panel["post"] = post.astype(np.int8)
    panel["did"] = post.astype(float)
    panel["event_time"] = np.where(panel["treated"].to_numpy() == 1, yr - ty, np.nan)
    if "region_pair" in panel.columns:
        panel["region_pair_year"] = panel["region_pair"].to_numpy() * 10000 + yr
    return panel


def pair_outcome(
    index_wide: pd.DataFrame,
    growth_wide: pd.DataFrame | None,
    pos_i: np.ndarray,
    pos_j: np.ndarray,
    spec: Spec,
    ref_years: Sequence[int] | None = None,
) -> np.ndarray:
    """The synchronization outcome of every pair and window year.

    Parameters
    ----------
    index_wide
        Development index, cities (universe order) x all available years.
    growth_wide
        Real GDP growth in percent, same layout; needed by the KPP measures.
    pos_i, pos_j
        Row positions of the pair's cities.
    spec
        ``sync_measure``, ``index_input``, ``z_ddof``, ``cycle_filter``, ``hp_lambda`` and
        ``rolling_window`` choose the measure; the window is ``spec.years``.
    ref_years
        Years whose moments standardise the Cerqueira-Martins z-scores (default: the
        window). With :func:`moment_years` under ``outcome_moments="pre"`` these are the
        years before the first designation; the transformation keeps the window's ``T`` and
        the rare ``rho`` below its bound ``3 - 2T`` is set to the bound (the count is in
        :data:`LAST_CLIPPED`).

    Returns
    -------
    numpy.ndarray
        Shape (n_pairs, T), columns the window years.
    """
    years = list(spec.years)
    measure = spec.sync_measure
    if measure == "cm":
        series = measures.city_series(
            index_wide, spec.index_input, cycle_filter=spec.cycle_filter, lamb=spec.hp_lambda
        )
        window = _window(series, years, "development index")
        if ref_years is None or list(ref_years) == years:
            z = measures.zscore(window, ddof=spec.z_ddof)
            return measures.cm_sync(z.to_numpy(), pos_i, pos_j)
        z = measures.zscore(window, ddof=spec.z_ddof, ref=list(ref_years))
        rho = measures.cm_rho(z.to_numpy(), pos_i, pos_j)
        bound = 3.0 - 2.0 * len(years)
        LAST_CLIPPED[0] = int((rho < bound).sum())
        return measures.cm_transform(np.maximum(rho, bound), len(years))
    if measure in ("kpp", "kpp_resid"):
        if growth_wide is None:
            raise ValueError("sync_measure 'kpp' needs real GDP growth (gdp_growth)")
        g = _window(growth_wide, years, "gdp_growth")
        if measure == "kpp_resid":
            g = measures.residualize_two_way(g)
        return measures.kpp_sync(g.to_numpy(), pos_i, pos_j)
    if measure == "rolling_corr":
        cycle = measures.city_series(
            index_wide, "cycle", cycle_filter=spec.cycle_filter, lamb=spec.hp_lambda
        )
        full = measures.rolling_corr_sync(
            cycle.to_numpy(), pos_i, pos_j, window=spec.rolling_window
        )
        cols = [cycle.columns.get_loc(y) for y in years]
        out = full[:, cols]
        if np.isnan(out).any():
            raise ValueError(
                f"rolling_corr: the {spec.rolling_window}-year window needs "
                f"{spec.rolling_window - 1} years of data before {spec.first_year}"
            )
        return out
    raise ValueError(f"unknown sync_measure {measure!r}")


#: Cells whose Cerqueira-Martins ``rho`` was set to its lower bound by the last
#: :func:`pair_outcome` call with pre-period moments (a one-element list, for reporting).
LAST_CLIPPED: list[int] = [0]


def moment_years(spec: Spec, universe: pd.DataFrame) -> list[int]:
    """Years whose moments build the outcome under ``spec.outcome_moments``.

    ``"window"``: every window year (the paper). ``"pre"``: the window years before the
    first designation among the universe's pilots (2010-2014 with the paper's batches),
    so that the entropy weights, the min-max bounds and the z-score moments do not see
    any post-designation year.
    """
    years = list(spec.years)
    if spec.outcome_moments != "pre":
        return years
    ty = pd.to_numeric(universe.loc[universe["pilot"], "treat_year"], errors="coerce").dropna()
    if ty.empty:
        raise ValueError("outcome_moments='pre' needs designated pilots to date the pre-period")
    pre = [y for y in years if y < int(ty.min())]
    if len(pre) < 3:
        raise ValueError(f"outcome_moments='pre' needs at least 3 pre-period years, got {pre}")
    return pre


def fixed_effects(spec: Spec) -> tuple[str, str]:
    """Fixed-effect columns of the DID under ``spec.year_effects``."""
    if spec.year_effects == "region_pair_year":
        return ("pair_id", "region_pair_year")
    return ("pair_id", "year")


def winsorize_values(values: np.ndarray, q: float) -> np.ndarray:
    """Clip ``values`` at their ``q`` and ``1 - q`` quantiles (over every entry); ``q = 0``
    returns them unchanged."""
    v = np.asarray(values, dtype=float)
    if q <= 0:
        return v
    lo, hi = np.quantile(v, [q, 1.0 - q])
    return np.clip(v, lo, hi)


def apply_designs(panel: pd.DataFrame, pairs: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """The chapter 2-3 designs that act on the pair-year panel, after the outcome is built.

    * exposure columns ``exposed, spill_year, spill_post``
      (:func:`cbec.study.exposure.add_exposure` with ``spec.exposure_quantile``);
    * ``spec.winsorize > 0``: the outcome clipped at its ``winsorize`` and
      ``1 - winsorize`` quantiles over all pair-years; on the twin the no-policy outcome is
      clipped at its own quantiles and ``tau`` recomputed (the row's own true effect);
    * ``spec.control_exposure == "clean"``: exposed control pairs leave the sample;
    * ``spec.drop_pilot``: every pair with that city leaves the sample.
    """
    from cbec.study import exposure

    out = exposure.add_exposure(panel, pairs, spec.exposure_quantile)
    q = float(spec.winsorize)
    if q > 0:
        for col in ("syn", "syn_cf"):
            if col in out.columns:
                out[col] = winsorize_values(out[col].to_numpy(), q)
        if "syn_cf" in out.columns:
            out["tau"] = out["syn"] - out["syn_cf"]
    keep = np.ones(len(out), dtype=bool)
    if spec.control_exposure == "clean":
        keep &= ~((out["treated"] == 0) & (out["exposed"] == 1)).to_numpy()
    drop = spec.drop_pilot
    if drop is not None:
        keep &= ~((out["city_i"] == drop) | (out["city_j"] == drop)).to_numpy()
    if not keep.all():
        out = out[keep].reset_index(drop=True)
    return out


def _window(wide: pd.DataFrame, years: list[int], what: str) -> pd.DataFrame:
    missing = [y for y in years if y not in wide.columns]
    if missing:
        raise ValueError(f"{what}: no data for window years {missing}")
    out = wide[years]
    if out.isna().any().any():
        bad = out.index[out.isna().any(axis=1)].tolist()
        raise ValueError(f"{what}: missing values inside the window for cities {bad[:10]}")
    return out


def covariate_gaps(
    city_wide: dict[str, pd.DataFrame],
    names: Sequence[str],
    pos_i: np.ndarray,
    pos_j: np.ndarray,
    years: Sequence[int],
) -> dict[str, np.ndarray]:
    """Pair-level covariates from city variables, by name.

    A name ``"<var>_gap"`` is ``|v_i - v_j|`` and ``"<var>_mean"`` is ``(v_i + v_j) / 2``;
    a ``"log_"`` prefix takes logs of the city variable first. Example:
    ``"log_gdp_pc_gap"`` is the absolute gap in log GDP per capita.
    """
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name.endswith("_gap"):
            stem, how = name[: -len("_gap")], "gap"
        elif name.endswith("_mean"):
            stem, how = name[: -len("_mean")], "mean"
        else:
            raise ValueError(f"covariate {name!r} must end in '_gap' or '_mean'")
        take_log = stem.startswith("log_")
        var = stem[4:] if take_log else stem
        if var not in city_wide:
            raise KeyError(f"covariate {name!r} needs city variable {var!r}, which is unavailable")
        w = _window(city_wide[var], list(years), var).to_numpy(dtype=float)
        if take_log:
            if (w <= 0).any():
                raise ValueError(f"covariate {name!r}: {var} has non-positive values")
            w = np.log(w)
        a, b = w[pos_i], w[pos_j]
        out[name] = np.abs(a - b) if how == "gap" else (a + b) / 2.0
    return out
