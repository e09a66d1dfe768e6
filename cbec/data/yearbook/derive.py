"""Merging files and deriving the canonical variables from raw inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cbec.data.yearbook.rules import (
    BASE_YEAR,
    _Audit,
)


# ======================================================================== the loader
def _stack(frame: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Long (file, sheet, row, city, city_id, year, target, value) of non-missing values."""
    keep = ["source", "sheet", "row", "city", "city_id", "year"]
    long = frame[keep + targets].melt(id_vars=keep, var_name="target", value_name="value")
    return long[long["value"].notna()].reset_index(drop=True)


def _rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    denom = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.abs(a - b) / denom, 0.0)


def _rows_text(g: pd.DataFrame) -> str:
    pairs = dict.fromkeys(zip(g["sheet"], g["row"], strict=True))
    return ", ".join(f"{f'sheet {s!r} ' if s else ''}row {r}" for s, r in pairs)


def _dedupe_file(long: pd.DataFrame, rtol: float, audit: _Audit) -> pd.DataFrame:
    """Collapse repeated city-year values inside one file."""
    key = ["source", "city_id", "year", "target"]
    dup = long.duplicated(key, keep=False)
    if not dup.any():
        return long
    d = long[dup].sort_values([*key, "sheet", "row"])
    g = d.groupby(key, sort=False)["value"]
    spread = _rel_diff(g.transform("max").to_numpy(float), g.transform("min").to_numpy(float))
    conflict = spread > rtol
    d = d.assign(conflict=conflict)
    first = ~d.duplicated(key, keep="first")
    # identical repeats: one audit row per repeated (file, city, year)
    cy = ["source", "city_id", "year"]
    clash = d.loc[d["conflict"], cy].drop_duplicates()
    rep = d[~d["conflict"] & ~first]
    rep = rep[~pd.MultiIndex.from_frame(rep[cy]).isin(pd.MultiIndex.from_frame(clash))]
    if len(rep):
        orig = d[first & ~d["conflict"]].merge(rep[cy].drop_duplicates(), on=cy)
        orig_text = orig.groupby(cy, sort=False)[["sheet", "row"]].apply(_rows_text)
        for (src, cid, yr), grp in rep.groupby(cy, sort=False):
            audit.add(
                "duplicate_row",
                f"{src}: {_rows_text(grp)} repeat(s) {orig_text.get((src, cid, yr), '?')} "
                f"with the same values ({', '.join(sorted(set(grp.target)))})",
                city_id=int(cid),
                city=grp.city.iloc[0],
                year=int(yr),
                file=src,
                sheet=grp.sheet.iloc[0] or None,
                row=int(grp.row.iloc[0]),
                rule=f"repeat equal within rtol={rtol:g}: first row kept",
            )
    for (src, cid, yr, tgt), grp in d[d["conflict"]].groupby(key, sort=False):
        vals = "; ".join(
            f"{s + ' ' if s else ''}row {r}: {v:g}"
            for s, r, v in zip(grp.sheet, grp.row, grp.value, strict=True)
        )
        msg = f"{src}: {tgt} of city {cid} in {yr} differs between rows ({vals}); set missing"
        audit.add(
            "duplicate_conflict",
            msg,
            city_id=int(cid),
            city=grp.city.iloc[0],
            year=int(yr),
            variable=tgt,
            file=src,
            sheet=grp.sheet.iloc[0] or None,
            row=int(grp.row.iloc[0]),
            value=f"{grp.value.iloc[0]:g}",
            other_value=float(grp.value.iloc[1]),
            rule="conflicting repeats within a file: value set missing",
        )
    keep = ~dup
    keep_idx = d.index[first & ~d["conflict"]]
    keep = keep | long.index.isin(keep_idx)
    return long[keep].reset_index(drop=True)


#: Quantities whose primary source should be the file with these companions (a nominal GDP
#: from the same file as the real index keeps the implied deflator consistent).
COMPANIONS: dict[str, tuple[str, ...]] = {"gdp_nominal": ("gdp_index", "gdp_real_any", "gdp")}


def _combine(
    long: pd.DataFrame,
    rtol: float,
    prefer: Mapping[str, str],
    audit: _Audit,
    lost: Mapping[tuple[str, int, int, str], tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One value per (city_id, year, target): the primary file's, gaps filled by others.

    Every value taken from a file other than the variable's primary gets an audit row
    ``filled_from_other_file`` naming both files, the value used and, where the primary
    had a cell that was set missing, that cell's text and the reason (``lost``: (file,
    city_id, year, target) -> (value as read, reason code)).
    """
    lost = lost or {}
    counts = long.groupby(["target", "source"]).size()
    tf = long[["source", "target"]].drop_duplicates()
    has = {f: set(g) for f, g in tf.groupby("source")["target"]}
    order: dict[str, list[str]] = {}
    for tgt in long["target"].unique():
        files = counts[tgt].index.tolist()

        def rank(f: str, tgt: str = tgt) -> tuple[int, int, int, str]:
            pref = prefer.get(tgt)
            p = 0 if pref and pref in f else 1
            comp = 0 if set(COMPANIONS.get(tgt, ())) & has[f] else 1
            return (p, comp, -int(counts[(tgt, f)]), f)

        order[tgt] = sorted(files, key=rank)
    rank = {(t, f): i for t, files in order.items() for i, f in enumerate(files)}
    pairs = pd.MultiIndex.from_arrays([long["target"], long["source"]])
    long = long.assign(rank=pd.Series(rank).reindex(pairs).to_numpy()).sort_values(
        ["target", "city_id", "year", "rank"]
    )
    key = ["target", "city_id", "year"]
    first = ~long.duplicated(key, keep="first")
    kept = long[first]
    others = long[~first]
    if len(others):
        ref = others.merge(kept[[*key, "value", "source"]], on=key, suffixes=("", "_kept"))
        diff = _rel_diff(ref["value"].to_numpy(float), ref["value_kept"].to_numpy(float))
        for r in ref[diff > rtol].itertuples(index=False):
            sheet = f" (sheet '{r.sheet}')" if r.sheet else ""
            audit.add(
                "conflict_between_files",
                f"{r.source}{sheet}, row {r.row}: {r.target} {r.value:g} not used; "
                f"kept {r.value_kept:g} from {r.source_kept}",
                city_id=int(r.city_id),
                city=r.city,
                year=int(r.year),
                variable=r.target,
                file=r.source,
                sheet=r.sheet or None,
                row=int(r.row),
                value=f"{r.value:g}",
                other_value=float(r.value_kept),
                other_file=r.source_kept,
                rule=f"the primary file wins (values differ by more than rtol={rtol:g})",
            )
    primary = {t: o[0] for t, o in order.items()}
    filled = kept[kept["source"].to_numpy() != kept["target"].map(primary).to_numpy()]
    for r in filled.itertuples(index=False):
        pfile = primary[r.target]
        raw, why = lost.get((pfile, int(r.city_id), int(r.year), r.target), ("", ""))
        had = (
            f"its cell {raw!r} was set missing ({why})"
            if why
            else "it has no value for this city-year"
        )
        sheet = f" (sheet '{r.sheet}')" if r.sheet else ""
        base = (
            f"; {BASE_YEAR} is the price base: the city's whole real GDP series is scaled by it"
            if r.target == "gdp_nominal" and int(r.year) == BASE_YEAR
            else ""
        )
        audit.add(
            "filled_from_other_file",
            f"{r.target} of {r.city} in {int(r.year)}: {r.value:g} taken from "
            f"{r.source}{sheet}, row {r.row}, because the primary file {pfile} {had}{base}",
            city_id=int(r.city_id),
            city=r.city,
            year=int(r.year),
            variable=r.target,
            file=pfile,
            value=raw or None,
            other_value=float(r.value),
            other_file=r.source,
            sheet=r.sheet or None,
            row=int(r.row),
            rule="gap of the primary file filled from the next file" + (f" ({why})" if why else ""),
        )
    sources = {t: kept[kept.target == t].groupby("source").size().to_dict() for t in order}
    wide = kept.pivot(index=["city_id", "year"], columns="target", values="value")
    wide.columns.name = None
    return wide.reset_index(), dict(primary=primary, sources=sources, filled=len(filled))


def _chain_gdp(w: pd.DataFrame, names: Mapping[int, str], audit: _Audit) -> pd.Series:
    """Real GDP at BASE_YEAR prices (亿元) from nominal base-year GDP and the volume index.

    ``gdp_t = nominal_b * prod_{s=b+1..t} index_s/100`` for ``t > b`` and
    ``gdp_t = nominal_b / prod_{s=t+1..b} index_s/100`` for ``t < b``; where the index is
    missing the real series of any base (``gdp_real_any``) is rebased instead:
    ``gdp_t = real_t * nominal_b / real_b``.
    """
    out = pd.Series(np.nan, index=w.index)
    if "gdp_nominal" not in w or not ({"gdp_index", "gdp_real_any"} & set(w.columns)):
        return out
    years = np.arange(int(w["year"].min()), int(w["year"].max()) + 1)
    if not years[0] <= BASE_YEAR <= years[-1]:
        return out
    cities = np.sort(w["city_id"].unique())
    ci = np.searchsorted(cities, w["city_id"].to_numpy())
    yi = w["year"].to_numpy(int) - years[0]
    b = BASE_YEAR - years[0]

    def grid(col: str) -> np.ndarray:
        m = np.full((len(cities), len(years)), np.nan)
        if col in w:
            m[ci, yi] = w[col].to_numpy(float)
        return m

    nominal, index, real = grid("gdp_nominal"), grid("gdp_index"), grid("gdp_real_any")
    logi = np.log(index / 100.0)
    res = np.full_like(nominal, np.nan)
    base = nominal[:, b]
    res[:, b] = base
    fwd = np.cumsum(logi[:, b + 1 :], axis=1)  # NaN propagates past a gap
    res[:, b + 1 :] = base[:, None] * np.exp(fwd)
    bwd = np.cumsum(logi[:, b:0:-1], axis=1)  # sum_{s=t+1..b}, t = b-1, b-2, ...
    if b > 0:
        res[:, b - 1 :: -1] = base[:, None] * np.exp(-bwd)
    rebased = real * (base / real[:, b])[:, None]
    res = np.where(np.isnan(res), rebased, res)
    vals = res[ci, yi]
    out[:] = vals
    has_any = (~np.isnan(index)).any(axis=1) | (~np.isnan(real)).any(axis=1)
    for k in np.flatnonzero(np.isnan(base) & has_any):
        cid = int(cities[k])
        audit.add(
            "no_base_year_gdp",
            f"derived: no nominal GDP in {BASE_YEAR}; real GDP (and gdp_pc) not computed",
            city_id=cid,
            city=names.get(cid),
            year=BASE_YEAR,
            variable="gdp",
        )
    inputs = ~np.isnan(index[ci, yi]) | ~np.isnan(real[ci, yi])
    gap = np.isnan(vals) & inputs & ~np.isnan(base[ci])
    for k in np.flatnonzero(gap):
        cid = int(w["city_id"].iloc[k])
        audit.add(
            "gdp_chain_gap",
            f"derived: price index missing between {BASE_YEAR} and {int(w['year'].iloc[k])}",
            city_id=cid,
            city=names.get(cid),
            year=int(w["year"].iloc[k]),
            variable="gdp",
        )
    return out


def _growth(
    w: pd.DataFrame,
    names: Mapping[int, str],
    audit: _Audit,
    how: dict[str, str],
    fill: Any,
) -> None:
    """Real GDP growth: the index minus 100, else the growth of real GDP (audited).

    With the previous-year=100 index in the data, growth is ``index - 100`` and only its
    gaps are filled from real GDP (each gap audited ``derived_fill``). Without the index,
    growth is derived from consecutive real GDP values: one ``derived_other_way`` row per
    city says so, and every city-year with real GDP but no growth (the first year of each
    series, or after a gap) gets a ``derived_lost`` row.
    """
    from_gdp = pd.Series(np.nan, index=w.index)
    if "gdp" in w:
        order = w.sort_values("year")
        prev = order.groupby("city_id")["gdp"].shift(1).reindex(w.index)
        gap1 = order.groupby("city_id")["year"].diff().reindex(w.index)
        from_gdp = ((w["gdp"] / prev - 1.0) * 100.0).where(gap1 == 1)
    if "gdp_index" in w and w["gdp_index"].notna().any():
        if "gdp_growth" not in w:
            w["gdp_growth"] = w["gdp_index"] - 100.0
            how["gdp_growth"] = "previous-year=100 index - 100"
        else:
            fill("gdp_growth", w["gdp_index"] - 100.0, "previous-year=100 index - 100")
        fill("gdp_growth", from_gdp, "growth of real GDP (the index is missing there)")
        return
    if "gdp_growth" in w:
        fill("gdp_growth", from_gdp, "growth of real GDP")
        return
    if from_gdp.notna().any():
        w["gdp_growth"] = from_gdp
        n_lost = int((w["gdp"].notna() & from_gdp.isna()).sum())
        how["gdp_growth"] = (
            "growth of real GDP between consecutive years (no previous-year=100 index in the "
            f"files); {n_lost} city-years with real GDP but no previous year have no growth"
        )
        for cid, g in w[w["gdp"].notna()].groupby("city_id"):
            cid = int(cid)
            audit.add(
                "derived_other_way",
                f"gdp_growth of {names.get(cid, cid)}: no growth-index column in the files; "
                f"derived from real GDP of consecutive years ({int(from_gdp[g.index].notna().sum())}"
                " values)",
                city_id=cid,
                city=names.get(cid),
                variable="gdp_growth",
                rule="growth = 100 * (gdp_t / gdp_{t-1} - 1)",
            )
        lost = w["gdp"].notna() & from_gdp.isna()
        for k in np.flatnonzero(lost.to_numpy()):
            cid, yr = int(w["city_id"].iloc[k]), int(w["year"].iloc[k])
            audit.add(
                "derived_lost",
                f"gdp_growth of {names.get(cid, cid)} in {yr} not computed: no real GDP in "
                f"{yr - 1} (growth derived from real GDP, the index being absent)",
                city_id=cid,
                city=names.get(cid),
                year=yr,
                variable="gdp_growth",
                rule="growth = 100 * (gdp_t / gdp_{t-1} - 1)",
            )


def _derive(
    w: pd.DataFrame, use_interpolated: bool, names: Mapping[int, str], audit: _Audit
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical variables from raw inputs; a reported canonical column wins over a derived one."""
    col = w.get
    how: dict[str, str] = {}

    def nan() -> pd.Series:
        return pd.Series(np.nan, index=w.index)

    def fill(name: str, derived: pd.Series, recipe: str) -> None:
        """Use ``derived`` where ``name`` is missing; audit every gap filled."""
        if name in w:
            gaps = w[name].isna() & derived.notna()
            w[name] = w[name].fillna(derived)
            n = int(gaps.sum())
            how[name] = how.get(name, "reported") + (
                f"; {n} missing values filled: {recipe}" if n else ""
            )
            for k in np.flatnonzero(gaps.to_numpy()):
                cid, yr = int(w["city_id"].iloc[k]), int(w["year"].iloc[k])
                audit.add(
                    "derived_fill",
                    f"{name} of {names.get(cid, cid)} in {yr} missing as reported; filled with "
                    f"{derived.iloc[k]:g} ({recipe})",
                    city_id=cid,
                    city=names.get(cid),
                    year=yr,
                    variable=name,
                    other_value=float(derived.iloc[k]),
                    rule=recipe,
                )
        elif derived.notna().any():
            w[name] = derived
            how[name] = recipe

    if use_interpolated and "pop_interp" in w:
        fill("pop", w["pop_interp"], "interpolated resident population (source's own)")
    if "gdp" in w:
        how["gdp"] = "reported (2010 prices)"
    fill(
        "gdp",
        _chain_gdp(w, names, audit),
        f"chained from nominal {BASE_YEAR} GDP and the previous-year=100 index",
    )
    _growth(w, names, audit, how, fill)
    pop = col("pop", nan())
    fill("gdp_pc", col("gdp", nan()) / pop * 1e4, "gdp * 1e8 / (pop * 1e4)")
    gn = col("gdp_nominal", nan())
    fill("service_share", col("tertiary_va", nan()) / gn * 100.0, "tertiary VA / nominal GDP")
    fill("secondary_share", col("secondary_va", nan()) / gn * 100.0, "secondary VA / nominal GDP")
    fill("fdi_pc", col("fdi", nan()) / pop, "FDI (万美元) / pop (万人) = US$ per person")
    fill(
        "fin_dev",
        (col("loans", nan()) + col("deposits", nan())) / gn,
        "(loans + deposits) / nominal GDP",
    )
    for name, raw in (("savings_pc", "savings"), ("fai_pc", "fai"), ("retail_pc", "retail")):
        fill(name, col(raw, nan()) / pop * 1e4, f"{raw} * 1e8 / (pop * 1e4)")
    fill("human_capital", col("students", nan()) / pop, "students / pop (万人)")
    fill("info_infra", col("broadband", nan()) / pop * 100.0, "broadband (万户) / pop * 100")
    for name in ("gdp_nominal", "pop", "land_area", "wage", "industrial_output"):
        if name in w and name not in how:
            how[name] = "reported"
    return w, how
