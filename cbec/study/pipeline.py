"""From a :class:`~cbec.spec.Spec` to the analysis-ready pair panel, in one call.

``build_study(spec)`` runs the one-way chain of the book::

    reference (universe) -> twin | yearbook (CityPanel) -> measures (index, growth)
        -> pairs (candidates, ties, filter, timing, outcome, truth) -> Study

Every chapter notebook starts with ``study = build_study(spec)``; nothing else in the
chain is computed in a notebook.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cbec import audit as audit_mod
from cbec.data import reference
from cbec.data.panel import CityPanel
from cbec.spec import Spec
from cbec.study import measures, pairs

#: City variables the pair builder needs besides the index indicators.
BASE_VARIABLES = ("pop", "gdp", "land_area")


@dataclass
class Study:
    """Everything one Spec produces before estimation.

    Attributes
    ----------
    spec
        The choices that made it.
    universe
        The study's cities (registry columns plus ``pilot``, ``batch``, ``treat_year``).
    city
        The :class:`~cbec.data.panel.CityPanel` restricted to the universe and the years used.
    index
        Development index, cities (universe order) x years, and ``weights`` its entropy
        weights; ``index_cf`` the same in the no-policy world (twin only).
    pairs
        One row per candidate pair with its tie score and ``kept`` flag.
    panel
        The pair x year panel of kept pairs: timing, outcome ``syn``, controls and, on the
        twin, ``syn_cf`` (outcome without the policy) and ``tau`` (true effect).
    audit
        Every city, city-year, variable or pair that left the sample, with its reason.
    indicators
        Index indicators actually used (the requested ones the data provide).
    timings
        Seconds spent in each step.
    """

    spec: Spec
    universe: pd.DataFrame
    city: CityPanel
    index: pd.DataFrame
    weights: pd.Series
    pairs: pd.DataFrame
    panel: pd.DataFrame
    audit: pd.DataFrame
    indicators: tuple[str, ...]
    tie_cutoff: float
    index_cf: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> bool:
        """True on the synthetic twin."""
        return self.spec.is_synthetic

    @property
    def has_truth(self) -> bool:
        """True when the panel carries the true effect ``tau``."""
        return "tau" in self.panel.columns

    def true_att(self) -> float:
        """Average true effect over treated post-designation pair-years (twin only)."""
        if not self.has_truth:
            raise ValueError("the true effect is known only on the synthetic twin")
        p = self.panel
        return float(p.loc[p["did"] == 1, "tau"].mean())

    def sample_table(self) -> pd.DataFrame:
        """Counts at each step of the sample construction (Table 1.1)."""
        u, pr, pn = self.universe, self.pairs, self.panel
        kept = pr[pr["kept"]]
        rows = [
            ("Cities in the study", len(u)),
            (f"  pilot cities (batches 1-{self.spec.last_batch})", int(u["pilot"].sum())),
            ("  non-pilot cities", int((~u["pilot"]).sum())),
            ("Candidate pairs (pilot-pilot excluded)", len(pr)),
            ("  treated pairs (one pilot)", int(pr["treated"].sum())),
            ("  control pairs (no pilot)", int((pr["treated"] == 0).sum())),
            ("Pairs kept by the tie filter", len(kept)),
            ("  treated", int(kept["treated"].sum())),
            ("  control", int((kept["treated"] == 0).sum())),
            ("Years", self.spec.n_years),
            ("Pair-years", len(pn)),
            ("  treated and post-designation", int(pn["did"].sum())),
        ]
        return pd.DataFrame(rows, columns=["step", "count"])

    def summary_stats(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Mean, sd, min and max of pair-year variables for all, treated and control pairs.

        Defaults to the outcome, the treatment, the distance, the spec's controls and, on the
        twin, the true effect ``tau``.
        """
        p = self.panel
        if columns is None:
            columns = ["syn", "did", "distance_km", *self.spec.controls]
            if self.has_truth:
                columns.append("tau")
        groups = {"all": p, "treated": p[p["treated"] == 1], "control": p[p["treated"] == 0]}
        rows = []
        for col in columns:
            for name, g in groups.items():
                v = g[col]
                rows.append(
                    {"variable": col, "pairs": name, "N": int(v.notna().sum()), "mean": v.mean(),
                     "sd": v.std(), "min": v.min(), "max": v.max()}
                )  # fmt: skip
        return pd.DataFrame(rows)

    def audit_summary(self) -> pd.DataFrame:
        """Audit rows counted by stage and reason code (:func:`cbec.audit.summary`)."""
        return audit_mod.summary(self.audit)


def load_city_panel(spec: Spec, universe: pd.DataFrame | None = None) -> CityPanel:
    """The city panel of the spec's profile.

    Twin: the whole world of ``World.from_spec(spec)`` (every registry city; ``universe`` is
    not used, no analysis field reaches the simulation). Real: the user's files.
    """
    if spec.profile == "twin":
        from cbec.data import twin

        # the twin's world is simulated whole, apart from the analysis; build_study then
        # keeps the universe's cities (the universe argument is not needed here)
        return twin.simulate_twin(twin.World.from_spec(spec))
    return _load_yearbook(str(spec.data_dir), spec.strict_data, spec.pop_interpolated)


#: Loaded yearbook panels of this session, keyed by folder, loader options and the files'
#: names, sizes and modification times (a changed file is read again).
_PANELS: dict[tuple[Any, ...], CityPanel] = {}


def _load_yearbook(data_dir: str, strict: bool, interpolated: bool) -> CityPanel:
    """:func:`cbec.data.yearbook.load_yearbook`, memoised for the session (copies out)."""
    import copy
    from pathlib import Path

    from cbec.data import yearbook

    folder = Path(data_dir)
    stamp = (
        tuple(
            (q.name, q.stat().st_size, q.stat().st_mtime_ns)
            for q in sorted(folder.iterdir())
            if q.is_file()
        )
        if folder.is_dir()
        else ()
    )
    key = (str(folder.resolve()), strict, interpolated, stamp)
    if key not in _PANELS:
        if len(_PANELS) >= 4:
            _PANELS.pop(next(iter(_PANELS)))
        _PANELS[key] = yearbook.load_yearbook(folder, strict=strict, use_interpolated=interpolated)
    panel = _PANELS[key]
    return CityPanel(
        data=panel.data.copy(),
        profile=panel.profile,
        audit=panel.audit.copy(),
        unavailable=panel.unavailable,
        meta=copy.deepcopy(panel.meta),
    )


def _needed_years(spec: Spec) -> list[int]:
    """Years whose data every city needs, given the measure."""
    first, last = spec.first_year, spec.last_year
    if spec.sync_measure == "rolling_corr" or spec.index_input == "cycle":
        first, last = spec.sim_first_year, spec.sim_last_year
    elif spec.index_input == "growth":
        first -= 1
    return list(range(first, last + 1))


def needed_variables(
    spec: Spec, columns: Iterable[str]
) -> dict[str, tuple[tuple[str, ...], list[int]]]:
    """City variables (and their years) the Spec needs, by the role they play.

    Only these decide whether a city stays on the real profile: a city is never dropped
    for a variable its Spec does not use (KPP on growth needs no FDI).

    Parameters
    ----------
    spec
        The choices.
    columns
        Variables the city panel has (an index indicator it lacks is left out of the
        index, with an ``indicator_unavailable`` audit row, and needed by no city).

    Returns
    -------
    dict
        ``{"outcome": (variables, years), "tie score": ..., "controls": ...}``: the index
        indicators over the outcome's years (or real GDP growth over the window for the
        KPP measures), population, real GDP and land area in the tie score's base year,
        and the variables of ``spec.controls`` over the window. Roles with no variable are
        left out.
    """
    have = set(columns)
    out: dict[str, tuple[tuple[str, ...], list[int]]] = {}
    if spec.sync_measure in ("kpp", "kpp_resid"):
        out["outcome"] = (("gdp_growth",), list(spec.years))
    else:
        out["outcome"] = (
            tuple(v for v in spec.index_indicators if v in have),
            _needed_years(spec),
        )
    out["tie score"] = (BASE_VARIABLES, [spec.base_year])
    controls = tuple(sorted(_control_vars(spec)))
    if controls:
        out["controls"] = (controls, list(spec.years))
    return out


def _lacking(
    data: pd.DataFrame, needs: dict[str, tuple[tuple[str, ...], list[int]]]
) -> pd.DataFrame:
    """One row per (city, role, variable) the city lacks: ``city_id``, ``role``,
    ``variable``, ``years`` (the needed years without a value, missing rows included)."""
    cities = np.sort(data["city_id"].unique())
    rows = []
    for role, (variables, years) in needs.items():
        full = pd.MultiIndex.from_product([cities, years], names=["city_id", "year"])
        sub = data.set_index(["city_id", "year"]).reindex(full)
        for v in variables:
            col = sub[v] if v in sub.columns else pd.Series(np.nan, index=full)
            miss = col.isna()
            if not miss.any():
                continue
            m = miss[miss].reset_index()
            for cid, g in m.groupby("city_id"):
                rows.append((int(cid), role, v, sorted(g["year"].astype(int).tolist())))
    return pd.DataFrame(rows, columns=["city_id", "role", "variable", "years"])


def _years_text(years: list[int]) -> str:
    return ", ".join(map(str, years[:6])) + (", ..." if len(years) > 6 else "")


def _sample_audit(lack: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    """Audit rows (stage "sample", code ``missing_variable``) of the cities left out."""
    col = audit_mod.Audit("sample")
    for r in lack.itertuples(index=False):
        col.add(
            "missing_variable",
            f"{names.get(r.city_id, r.city_id)} lacks {r.variable} (needed for the {r.role}) "
            f"in {len(r.years)} year(s): {_years_text(r.years)}",
            city_id=r.city_id,
            city=names.get(r.city_id, ""),
            variable=r.variable,
            year=r.years[0] if len(r.years) == 1 else None,
            rule=f"needed for the {r.role}",
        )
    return col.frame()


def real_sample(
    spec: Spec, city: CityPanel, names: dict[int, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The real profile's cities: the universe rule, then the variables the Spec needs.

    Returns
    -------
    universe, universe_audit, sample_audit
        The cities kept (as :func:`cbec.data.reference.select_universe`), the universe
        rule's audit (registry units outside the rule, and units with no row at all in the
        panel: ``no_data_in_panel``), and one ``missing_variable`` row per (city of the
        rule, variable it lacks in some needed year; see :func:`needed_variables`).
    """
    names = reference.city_names() if names is None else names
    needs = needed_variables(spec, city.data.columns)
    needed_vars = sorted({v for vs, _ in needs.values() for v in vs})
    lacking = [v for v in needed_vars if v not in city.data.columns]
    if lacking:
        raise ValueError(
            f"the yearbook panel lacks {lacking}, needed for the tie score or controls; "
            "unavailable variables are never invented"
        )
    with_data = set(city.data["city_id"].astype(int))
    universe, uaudit = reference.select_universe(spec, available=with_data)
    data = city.data[city.data["city_id"].isin(universe["city_id"])]
    lack = _lacking(data, needs)
    universe = universe[~universe["city_id"].isin(set(lack["city_id"]))].reset_index(drop=True)
    return universe, uaudit, _sample_audit(lack, names)


def build_study(spec: Spec, *, verbose: bool = False) -> Study:
    """Build the analysis-ready pair panel for ``spec``.

    Parameters
    ----------
    spec
        The choices. ``spec.profile`` picks the synthetic twin or the user's panel.
    verbose
        Print one line per step with its wall time.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def tick(step: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[step] = now - t0
        t0 = now
        if verbose:
            print(f"  {step:<28s} {timings[step]:6.2f} s", flush=True)

    names = reference.city_names()
    audits: list[pd.DataFrame] = []

    # 1. cities and the city panel -----------------------------------------------------
    if spec.profile == "twin":
        universe, uaudit = reference.select_universe(spec)
        tick("universe")
        city = load_city_panel(spec, universe)
        tick("synthetic twin")
    else:
        city = load_city_panel(spec)
        tick("yearbook")
        universe, uaudit, saudit = real_sample(spec, city, names)
        audits.append(saudit)
        tick("universe")
    audits.insert(0, uaudit)
    audits.append(city.audit)

    # 2. which indicators the index can use -------------------------------------------
    indicators = tuple(v for v in spec.index_indicators if v in city.data.columns)
    dropped = [v for v in spec.index_indicators if v not in city.data.columns]
    if dropped:
        col = audit_mod.Audit("index")
        for v in dropped:
            col.add(
                "indicator_unavailable",
                f"index indicator {v} is not in the data; the index is built without it",
                variable=v,
            )
        audits.append(col.frame())
    if len(indicators) < 2:
        raise ValueError(f"the development index needs at least two indicators, have {indicators}")

    ids = universe["city_id"].to_numpy()
    span = range(spec.sim_first_year, spec.sim_last_year + 1)

    def restrict(frame: pd.DataFrame) -> pd.DataFrame:
        keep = frame["city_id"].isin(ids) & frame["year"].isin(span)
        return frame[keep].sort_values(["city_id", "year"]).reset_index(drop=True)

    data = restrict(city.data)
    city_used = CityPanel(
        data=data,
        profile=city.profile,
        audit=city.audit,
        unavailable=city.unavailable,
        counterfactual=None if city.counterfactual is None else restrict(city.counterfactual),
        meta=city.meta,
    )

    # 3. city measures -----------------------------------------------------------------
    window = list(spec.years)
    ref_years = pairs.moment_years(spec, universe)  # chapter 2-3: Spec.outcome_moments
    index, weights = _index_wide(data, indicators, ref_years, ids)
    index_cf = None
    if city_used.counterfactual is not None:
        index_cf, _ = _index_wide(city_used.counterfactual, indicators, ref_years, ids)
    tick("entropy index")

    # 4. pairs, ties, filter --------------------------------------------------------------
    cand = pairs.candidate_pairs(universe)
    base = data[data["year"] == spec.base_year].set_index("city_id").reindex(ids)
    base = base.assign(admin_rank=universe["admin_rank"].to_numpy()).reset_index()
    cand["tie"] = pairs.tie_scores(cand, base)
    kept, cutoff = pairs.tie_filter(cand["tie"].to_numpy(), spec.tie_quantile)
    cand["kept"] = kept
    tick("pairs and ties")

    kp = cand[cand["kept"]].drop(columns="kept").reset_index(drop=True)
    kp["pair_id"] = np.arange(len(kp), dtype=np.int64)
    panel = pairs.expand_years(kp, window)
    tick("pair-year panel")

    # 5. outcome (and truth) -------------------------------------------------------------
    pi, pj = kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy()
    growth = _wide(data, "gdp_growth", ids) if "gdp_growth" in data.columns else None
    syn = pairs.pair_outcome(index, growth, pi, pj, spec, ref_years)
    panel["syn"] = syn.reshape(-1)
    if index_cf is not None:
        cf = city_used.counterfactual
        growth_cf = _wide(cf, "gdp_growth", ids) if "gdp_growth" in cf.columns else None
        syn_cf = pairs.pair_outcome(index_cf, growth_cf, pi, pj, spec, ref_years)
        panel["syn_cf"] = syn_cf.reshape(-1)
        panel["tau"] = panel["syn"] - panel["syn_cf"]
    tick("synchronization")

    # 6. controls and pair attributes ----------------------------------------------------
    city_wide = {v: _wide(data, v, ids) for v in _control_vars(spec) if v in data.columns}
    for name, values in pairs.covariate_gaps(city_wide, spec.controls, pi, pj, window).items():
        panel[name] = values.reshape(-1)
    for col in ("region3", "region4", "admin_rank"):
        vals = universe[col].to_numpy()
        panel[f"{col}_i"] = np.repeat(vals[pi], len(window))
        panel[f"{col}_j"] = np.repeat(vals[pj], len(window))
    panel = pairs.apply_designs(panel, cand, spec)  # exposure, winsorising, sample designs
    tick("controls")

    audit = audit_mod.concat(audits)
    return Study(
        spec=spec,
        universe=universe,
        city=city_used,
        index=index,
        weights=weights,
        pairs=cand,
        panel=panel,
        audit=audit,
        indicators=indicators,
        tie_cutoff=cutoff,
        index_cf=index_cf,
        timings=timings,
        meta={"twin": city.meta} if spec.is_synthetic else {"source": city.meta},
    )


def _control_vars(spec: Spec) -> set[str]:
    """City variables the spec's controls are built from."""
    out = set()
    for name in spec.controls:
        stem = name.rsplit("_", 1)[0]
        out.add(stem[4:] if stem.startswith("log_") else stem)
    return out


def _wide(data: pd.DataFrame, var: str, ids: np.ndarray) -> pd.DataFrame:
    """One variable as cities (in ``ids`` order) x years."""
    return data.pivot(index="city_id", columns="year", values=var).reindex(ids).astype(float)


def _index_wide(
    data: pd.DataFrame, indicators: tuple[str, ...], window: list[int], ids: np.ndarray
) -> tuple[pd.DataFrame, pd.Series]:
    """Entropy-weight index as a wide frame; weights estimated on the window's city-years."""
    # City-years outside the needed years may lack an indicator (real data); the index is
    # left NaN there, and any measure that reaches such a year raises a clear error.
    complete = data[list(indicators)].notna().all(axis=1)
    idx, weights = measures.entropy_index(data[complete], list(indicators), years=window)
    wide = idx.unstack("year").reindex(ids)
    return wide, weights


def alternative_outcome(study: Study, **changes: Any) -> np.ndarray:
    """The outcome of the study's kept pairs under another measure, as a flat array.

    Only outcome fields may change (``sync_measure``, ``index_input``, ``z_ddof``,
    ``cycle_filter``, ``hp_lambda``, ``rolling_window``); the sample stays the same, so
    the result aligns row by row with ``study.panel``.
    """
    allowed = {
        "sync_measure",
        "index_input",
        "z_ddof",
        "cycle_filter",
        "hp_lambda",
        "rolling_window",
    }
    bad = set(changes) - allowed
    if bad:
        raise ValueError(f"alternative_outcome changes only {sorted(allowed)}, not {sorted(bad)}")
    spec = study.spec.replace(**changes)
    ids = study.universe["city_id"].to_numpy()
    data = study.city.data
    growth = _wide(data, "gdp_growth", ids) if "gdp_growth" in data.columns else None
    kp = study.panel.drop_duplicates("pair_id")
    out = pairs.pair_outcome(
        study.index, growth, kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy(), spec,
        pairs.moment_years(spec, study.universe),
    )  # fmt: skip
    return out.reshape(-1)


def outcome_of_pairs(
    study: Study, spec: Spec, pos_i: np.ndarray, pos_j: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The outcome of any pairs of the study's cities under ``spec``'s outcome choices.

    The index is rebuilt when ``spec.outcome_moments`` differs from the study's (its entropy
    weights and bounds come from the moment years); the sample, the cities and their data
    are the study's. Returns ``(pairs x window years)`` arrays in the factual and, on the
    twin, the no-policy world (``None`` otherwise). Winsorising (``spec.winsorize``) is not
    applied here: it acts on a whole panel (:func:`cbec.study.pairs.winsorize_values`).
    """
    ids = study.universe["city_id"].to_numpy()
    ref_years = pairs.moment_years(spec, study.universe)
    same_index = ref_years == pairs.moment_years(study.spec, study.universe)

    def one(frame: pd.DataFrame, index: pd.DataFrame | None) -> np.ndarray:
        if index is None or not same_index:
            index, _ = _index_wide(frame, study.indicators, ref_years, ids)
        growth = _wide(frame, "gdp_growth", ids) if "gdp_growth" in frame.columns else None
        return np.asarray(
            pairs.pair_outcome(index, growth, pos_i, pos_j, spec, ref_years), dtype=float
        )

    y = one(study.city.data, study.index)
    y_cf = None
    if study.city.counterfactual is not None:
        y_cf = one(study.city.counterfactual, study.index_cf)
    return y, y_cf


#: Switches :func:`sample_steps` tries on the real profile, with a label each.
SAMPLE_SWITCHES: dict[str, dict[str, Any]] = {
    "interpolated population allowed": {"pop_interpolated": True},
    "index without FDI per capita": {"index_indicators": "-fdi_pc"},
    "both": {"pop_interpolated": True, "index_indicators": "-fdi_pc"},
    "KPP outcome (growth only)": {"sync_measure": "kpp"},
    "universe: all units with data": {"universe": "all"},
}


def _switched(spec: Spec, changes: dict[str, Any]) -> Spec:
    changes = dict(changes)
    ind = changes.get("index_indicators")
    if isinstance(ind, str) and ind.startswith("-"):
        changes["index_indicators"] = tuple(v for v in spec.index_indicators if v != ind[1:])
    return spec.replace(**changes)


def sample_counts(spec: Spec) -> dict[str, int]:
    """Cities, pilots, kept pairs and pair-years of ``spec``'s sample, without the outcome.

    The same selection as :func:`build_study` (universe rule, needed variables, tie filter)
    but stopping before the index and the outcome, so it is cheap to call for several
    alternatives.
    """
    names = reference.city_names()
    if spec.profile == "twin":
        universe, _ = reference.select_universe(spec)
        city = load_city_panel(spec, universe)
        universe = universe[universe["city_id"].isin(city.data["city_id"])]
    else:
        city = load_city_panel(spec)
        universe, _, _ = real_sample(spec, city, names)
    ids = universe["city_id"].to_numpy()
    cand = pairs.candidate_pairs(universe.reset_index(drop=True))
    data = city.data
    base = data[data["year"] == spec.base_year].set_index("city_id").reindex(ids)
    base = base.assign(admin_rank=universe["admin_rank"].to_numpy()).reset_index()
    kept, _ = pairs.tie_filter(np.asarray(pairs.tie_scores(cand, base)), spec.tie_quantile)
    n_kept = int(np.sum(kept))
    return {
        "cities": len(universe),
        "pilots": int(universe["pilot"].sum()),
        "pairs": n_kept,
        "pair_years": n_kept * spec.n_years,
    }


def sample_steps(
    spec: Spec, switches: dict[str, dict[str, Any]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real-profile sample step by step, and what switching each rule would give.

    Parameters
    ----------
    spec
        A real-profile Spec (on the twin every step keeps every city).
    switches
        Label -> Spec changes to compare (default :data:`SAMPLE_SWITCHES`);
        ``{"index_indicators": "-fdi_pc"}`` removes one indicator from the spec's.

    Returns
    -------
    steps : pandas.DataFrame
        One row per rule, in order: ``step``, ``rule`` (the role of the variable),
        ``cities`` and ``pilots`` left after it, ``removed`` (cities it removes that no
        earlier step removed). First the universe rule, then "rows in the panel", then each
        variable the Spec needs (:func:`needed_variables`), ordered by role.
    switched : pandas.DataFrame
        One row per alternative, the Spec first: ``sample``, ``cities``, ``pilots``,
        ``pairs`` (kept by the tie filter), ``pair_years``, and the differences ``d_cities``
        and ``d_pilots`` from the Spec's sample.
    """
    if spec.profile == "twin":
        universe, _ = reference.select_universe(spec)
        city = load_city_panel(spec, universe)
    else:
        city = load_city_panel(spec)
        universe, _ = reference.select_universe(spec)
    pilots = set(universe.loc[universe["pilot"], "city_id"].astype(int))
    alive = set(universe["city_id"].astype(int))
    rows = [("universe rule", f"universe={spec.universe}", len(alive), len(alive & pilots), 0)]

    def step(label: str, rule: str, gone: set[int]) -> None:
        alive.difference_update(gone)
        rows.append((label, rule, len(alive), len(alive & pilots), len(gone)))

    step("rows in the panel", "any row", alive - set(city.data["city_id"].astype(int)))
    needs = needed_variables(spec, city.data.columns)
    lack = _lacking(city.data[city.data["city_id"].isin(alive)], needs)
    for (role, var), g in lack.groupby(["role", "variable"], sort=False):
        yrs = needs[role][1]
        span = f"{yrs[0]}" if len(yrs) == 1 else f"{yrs[0]}-{yrs[-1]}"
        step(f"has {var} in {span}", role, alive & set(g["city_id"]))
    steps = pd.DataFrame(rows, columns=["step", "rule", "cities", "pilots", "removed"])

    out = []
    base = sample_counts(spec)
    out.append({"sample": "this Spec", **base})
    for label, changes in (SAMPLE_SWITCHES if switches is None else switches).items():
        out.append({"sample": label, **sample_counts(_switched(spec, changes))})
    switched = pd.DataFrame(out)
    switched["d_cities"] = switched["cities"] - base["cities"]
    switched["d_pilots"] = switched["pilots"] - base["pilots"]
    return steps, switched
