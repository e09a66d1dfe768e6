"""From a :class:`~cbec.spec.Spec` to the analysis-ready pair panel, in one call.

``build_study(spec)`` runs the one-way chain of the book::

    reference (universe) -> twin | yearbook (CityPanel) -> measures (index, growth)
        -> pairs (candidates, ties, filter, timing, outcome, truth) -> Study

Every chapter notebook starts with ``study = build_study(spec)``; nothing else in the
chain is computed in a notebook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cbec.data import reference
from cbec.data.panel import AUDIT_COLUMNS, CityPanel
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
        """Audit rows grouped by where they arose and why, with the number of cities."""
        a = self.audit
        source = a["source"].astype(str).str.split(",").str[0]
        return (
            a.assign(source=source)
            .groupby(["source", "reason"], dropna=False)
            .agg(rows=("reason", "size"), cities=("city_id", "nunique"))
            .reset_index()
        )


def load_city_panel(spec: Spec, universe: pd.DataFrame | None = None) -> CityPanel:
    """The city panel of the spec's profile (twin needs the universe; real reads the files)."""
    if spec.profile == "twin":
        from cbec.data import twin

        if universe is None:
            raise ValueError("the twin is simulated for a universe of cities")
        return twin.simulate_twin(spec, universe)
    from cbec.data import yearbook

    return yearbook.load_yearbook(spec.data_dir)


def _needed_years(spec: Spec) -> list[int]:
    """Years whose data every city needs, given the measure."""
    first, last = spec.first_year, spec.last_year
    if spec.sync_measure == "rolling_corr" or spec.index_input == "cycle":
        first, last = spec.sim_first_year, spec.sim_last_year
    elif spec.index_input == "growth":
        first -= 1
    return list(range(first, last + 1))


def _audit_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in AUDIT_COLUMNS})
    return pd.DataFrame(rows).reindex(columns=list(AUDIT_COLUMNS))


def _complete_cities(
    data: pd.DataFrame, variables: list[str], years: list[int], names: dict[int, str]
) -> tuple[set[int], pd.DataFrame]:
    """Cities with every variable present in every needed year, and audit rows for the rest."""
    sub = data[data["year"].isin(years)]
    rows: list[dict[str, Any]] = []
    complete: set[int] = set()
    counts = sub.groupby("city_id")["year"].nunique()
    present = sub.set_index(["city_id", "year"])[variables]
    missing_mask = present.isna()
    for city in sorted(data["city_id"].unique()):
        n_years = int(counts.get(city, 0))
        if n_years < len(years):
            have = set(sub.loc[sub["city_id"] == city, "year"].tolist())
            lack = [y for y in years if y not in have]
            rows.append(
                dict(
                    city_id=city,
                    city=names.get(city, ""),
                    year=None,
                    variable=None,
                    reason=f"no rows for years {lack[:6]}{'...' if len(lack) > 6 else ''}",
                    source="pipeline",
                )
            )
            continue
        m = missing_mask.loc[city]
        if m.to_numpy().any():
            bad = m.columns[m.any(axis=0)].tolist()
            yrs = m.index[m.any(axis=1)].tolist()
            rows.append(
                dict(
                    city_id=city,
                    city=names.get(city, ""),
                    year=None,
                    variable=", ".join(bad),
                    reason=f"missing values in years {yrs[:6]}{'...' if len(yrs) > 6 else ''}",
                    source="pipeline",
                )
            )
            continue
        complete.add(int(city))
    return complete, _audit_rows(rows)


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
    years_needed = _needed_years(spec)

    # 1. cities and the city panel -----------------------------------------------------
    if spec.profile == "twin":
        universe, uaudit = reference.select_universe(spec)
        tick("universe")
        city = load_city_panel(spec, universe)
        tick("synthetic twin")
    else:
        city = load_city_panel(spec)
        tick("yearbook")
        requested = [v for v in spec.index_indicators if v in city.data.columns]
        needed_vars = sorted(set(requested) | set(BASE_VARIABLES) | _control_vars(spec))
        lacking = [v for v in needed_vars if v not in city.data.columns]
        if lacking:
            raise ValueError(
                f"the yearbook panel lacks {lacking}, needed for the tie score or controls; "
                "unavailable variables are never invented"
            )
        available, caudit = _complete_cities(city.data, needed_vars, years_needed, names)
        audits.append(caudit)
        universe, uaudit = reference.select_universe(spec, available=available)
        tick("universe")
    audits.insert(0, uaudit)
    audits.append(city.audit)

    # 2. which indicators the index can use -------------------------------------------
    indicators = tuple(v for v in spec.index_indicators if v in city.data.columns)
    dropped = [v for v in spec.index_indicators if v not in city.data.columns]
    if dropped:
        audits.append(
            _audit_rows(
                [
                    dict(
                        city_id=None,
                        city=None,
                        year=None,
                        variable=v,
                        reason="indicator unavailable in the data; index built without it",
                        source="pipeline",
                    )
                    for v in dropped
                ]
            )
        )
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
    index, weights = _index_wide(data, indicators, window, ids)
    index_cf = None
    if city_used.counterfactual is not None:
        index_cf, _ = _index_wide(city_used.counterfactual, indicators, window, ids)
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
    syn = pairs.pair_outcome(index, growth, pi, pj, spec)
    panel["syn"] = syn.reshape(-1)
    if index_cf is not None:
        cf = city_used.counterfactual
        growth_cf = _wide(cf, "gdp_growth", ids) if "gdp_growth" in cf.columns else None
        syn_cf = pairs.pair_outcome(index_cf, growth_cf, pi, pj, spec)
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
    tick("controls")

    audit = (
        pd.concat([a for a in audits if len(a)], ignore_index=True) if audits else _audit_rows([])
    )
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
        study.index, growth, kp["pos_i"].to_numpy(), kp["pos_j"].to_numpy(), spec
    )
    return out.reshape(-1)
