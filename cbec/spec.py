"""One place for every open choice of the study.

A :class:`Spec` is a frozen dataclass. Every function down the data chain takes the
``Spec`` (or the fields it needs) instead of module-level constants, so a robustness check
is "the same call with one field changed"::

    base = Spec()
    alt = base.replace(treat_year_rule="first_full")

Each field documents its default and whether the paper pins it down ("[paper]") or the
choice is ours ("[open]"). ``Spec.describe()`` renders the non-default fields as a short
stamp that is printed under every table and figure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

Profile = Literal["twin", "real"]
Scenario = Literal["radiation", "siphon", "growing", "no_spillover", "none"]
TreatYearRule = Literal["approval", "first_full", "date_rule"]
CountyPilotRule = Literal["drop", "map_to_prefecture"]
Universe = Literal["paper254", "all"]
IndexInput = Literal["level", "growth", "cycle"]
SyncMeasure = Literal["cm", "kpp", "kpp_resid", "rolling_corr"]
CycleFilter = Literal["hp", "hamilton"]
Cluster = Literal["pair", "pilot_city", "twoway", "dyadic", "province"]
#: True policy worlds of the synthetic twin (:class:`cbec.data.twin.World`).
SCENARIOS: tuple[str, ...] = Scenario.__args__
#: The one clustering vocabulary of the study: ``Spec.cluster``, the ``vcov`` of
#: :func:`cbec.estimators.fe.fit_twfe` and the ``cluster`` of the event study use these names.
CLUSTERS: tuple[str, ...] = Cluster.__args__
HetRegion = Literal["region3", "region4"]
HetPre = Literal["pre_mean", "first_year"]
HetMedian = Literal["pairs", "cities"]
MechInnov = Literal["nonpilot_mean", "pair_mean", "pair_min"]
MechRealloc = Literal["abs_gap", "nonpilot_mean"]
TextWeighting = Literal["clause", "document", "level"]
TextIntensity = Literal["per_doc", "share", "stock"]

#: Environment variables read when a notebook parameter is left at ``None``.
ENV_PROFILE = "CBEC_PROFILE"
ENV_DATA_DIR = "CBEC_DATA_DIR"
ENV_FAST = "CBEC_FAST"
ENV_SEED = "CBEC_SEED"
ENV_OVERRIDES = "CBEC_OVERRIDES"

#: Default seed of the synthetic twin and of every random draw in the book.
DEFAULT_SEED = 20230221

#: The paper's nine indicators of the composite development index [paper].
NINE_INDICATORS: tuple[str, ...] = (
    "gdp_pc",
    "gdp_growth",
    "fai_pc",
    "service_share",
    "fdi_pc",
    "industrial_output",
    "retail_pc",
    "savings_pc",
    "wage",
)


#: Named sets of choices (:meth:`Spec.preset`). ``real_paper``: the real profile's sample
#: closest to the paper's 254 cities, 55 pilots and 153,230 pair-years (chapter 1): resident
#: population gaps filled from the vendor's interpolated column, and the index without FDI
#: per capita (39 of the 254 cities lack FDI in some year 2010-2019 in the shared panel).
PRESETS: dict[str, dict[str, Any]] = {
    "real_paper": {
        "profile": "real",
        "pop_interpolated": True,
        "index_indicators": tuple(v for v in NINE_INDICATORS if v != "fdi_pc"),
    },
}

#: Stages of the study a choice acts on (see :func:`choice`).
STAGES: tuple[str, ...] = ("sample", "outcome", "estimation")


def choice(
    default: Any,
    alternatives: tuple[Any, ...] = (),
    *,
    curve: bool = True,
    stage: str = "sample",
) -> Any:
    """Declare an open analysis choice: its default and the alternatives the book studies.

    ``alternatives`` lists the other values a robustness row or the specification curve
    (:mod:`cbec.analyses.speccurve`) tries; ``curve=False`` keeps a declared choice out of the
    curve (for example an inference-only choice that does not move the estimate). A new
    choice joins the curve by being declared here; nothing else is hand-listed.

    ``stage`` says what the choice changes, so that the curve computes each stage once:
    ``"sample"`` (default, the safe one: the pair panel is rebuilt), ``"outcome"`` (only the
    synchronization outcome of the same pairs changes: :func:`cbec.study.pipeline.build_study`
    is not rerun) or ``"estimation"`` (the same panel and outcome, another regression).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    meta = {"alternatives": tuple(alternatives), "curve": bool(curve), "stage": stage}
    if isinstance(default, (list, dict, set)):
        raise TypeError("choice defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Spec:
    """Every choice the study makes, with its default.

    The fields fall in two groups. **World** (twin only; :attr:`WORLD_FIELDS`): ``seed``,
    ``scenario``, ``sim_first_year`` and ``sim_last_year`` make the synthetic twin's world
    (:meth:`world_settings`, ``cbec.data.twin.World.from_spec(spec)``); the world also fixes
    its own designation rule and tie base year, so no analysis field changes simulated data.
    **Analysis**: every other field, which selects, times, measures and estimates.

    Parameters
    ----------
    profile
        ``"twin"`` (default): the synthetic twin with known true effects.
        ``"real"``: a user's yearbook panel read from ``data_dir``.
    data_dir
        Folder of the user's yearbook files; required when ``profile="real"``.
    seed
        Seed of the synthetic twin and of every random draw (placebo, bootstrap).
    scenario
        World (twin only): the true policy world, ``"radiation"`` (default; pilot cities pull
        tied partners' cycles along), ``"siphon"`` (cycles drift apart), ``"growing"``
        (radiation whose effect keeps growing with the years since designation),
        ``"no_spillover"`` (radiation on the pilot side only: control pairs untouched) or
        ``"none"``.
    fast
        Fast mode for tests and CI: fewer random draws, same data and estimators.
    first_year, last_year
        The estimation window [paper: 2010-2019].
    sim_first_year, sim_last_year
        World (twin only): years the twin simulates (2005-2021) so that filters and growth
        have a run-in.
    universe
        ``"paper254"`` (default): the paper's 254 cities (55 pilots of batches 1-4 and 199
        others) chosen by the rule in :func:`cbec.data.reference.select_universe` [open: the paper
        does not list its cities]. ``"all"``: every prefecture-level unit with data.
    last_batch
        Pilot batches counted as treated inside the window [paper: 1-4].
    treat_year_rule
        When a pilot city counts as treated [open]: ``"approval"`` (default; the year the
        State Council signed the approval), ``"first_full"`` (the first full calendar year
        after approval) or ``"date_rule"`` (approval year if signed before 1 July, else the
        next year).
    county_pilot_rule
        County-level pilot areas (Yiwu, Hunchun, Suifenhe, ...) [paper drops them]:
        ``"drop"`` (default) or ``"map_to_prefecture"`` (their prefecture becomes a pilot).
    tie_quantile
        Pairs whose economic-tie score is at or below this quantile are dropped [paper: the
        median, 0.5]. ``0.0`` keeps every pair; ``1/3`` drops the weakest tercile.
    tie_base_year
        Year whose population and GDP enter the time-invariant tie score [open; default the
        first year of the window].
    index_indicators
        Indicators of the entropy-weight development index [paper: the nine].
    index_input
        What the synchronization measure is computed on [open]: the index ``"level"``
        (default), its ``"growth"`` (first difference) or its filtered ``"cycle"``.
    z_ddof
        Degrees of freedom of the standard deviation in the Cerqueira-Martins z-scores
        [open]: ``0`` population sd (default; the 2T-3 bound of the paper's transformation
        holds exactly), ``1`` sample sd.
    sync_measure
        Outcome [paper: ``"cm"``, Cerqueira & Martins 2009]; alternatives ``"kpp"``
        (minus the absolute growth gap, Kalemli-Ozcan, Papaioannou & Peydro 2013),
        ``"kpp_resid"`` (the same on growth net of city and year effects) and
        ``"rolling_corr"`` (rolling correlation of filtered cycles).
    cycle_filter, hp_lambda, rolling_window
        Filter of the ``"cycle"`` input and of ``"rolling_corr"``: Hodrick-Prescott with
        ``hp_lambda`` (6.25 for annual data, Ravn & Uhlig 2002) or Hamilton (2018) with a
        ``hamilton_horizon``-year horizon and ``hamilton_lags`` lags; rolling window length in
        years.
    hamilton_horizon, hamilton_lags
        Horizon ``h`` and lags ``p`` of the Hamilton (2018) filter [open; default 2 and 2,
        Hamilton's suggestion for annual data].
    controls
        Pair-level controls of the "with controls" columns [open: the paper does not list
        them]; names of columns of the pair panel.
    cluster
        Clustering of the headline standard errors [paper: "by city"; open which]:
        ``"pilot_city"`` (default; the pilot city of a treated pair, the lower-coded city of
        a control pair), ``"pair"``, ``"twoway"`` (both cities), ``"dyadic"`` or
        ``"province"`` (the province of that city).
    event_window
        Leads and lags of the event study; endpoints are binned. Default (-5, 3): batch 2
        (2016) reaches three post years inside 2010-2019, so a separate +4 bin would rest
        on Hangzhou's pairs alone (one pilot city, one cluster).
        :func:`cbec.estimators.eventstudy.fit_event_study` uses it unless given a window.
    event_ref
        The omitted reference period of the event study [open; default -1, the year
        before designation].
    cs_base_period
        Chapter 7: base period of the Callaway-Sant'Anna pre-designation cells [open]:
        ``"universal"`` (default; every cell compared with the year before designation, so
        the event path is normalised at -1 like the other estimators, as Rambachan & Roth
        recommend) or ``"varying"`` (R ``did``'s default: the previous year). Effects after
        designation are the same under both.
    honest_target
        Chapter 7: the target of the Rambachan-Roth sensitivity analysis [open]:
        ``"average"`` (default; the mean of the post-designation event-study coefficients
        inside ``event_window``) or ``"first"`` (the designation year, R HonestDiD's
        default).
    confidence_level
        Level of every confidence interval and band of the book [open; default 0.95];
        ``alpha = 1 - confidence_level`` is the size of the tests.
    psm_covariates
        Pair traits in the first window year that enter the PSM logit besides the spec's
        ``controls`` [open]: ``log_tie`` (log tie score), ``log_distance`` and
        ``same_region`` (both cities in the same east/central/west region).
    psm_caliper
        Caliper of the PSM match in standard deviations of the propensity score [open;
        default 0.05; ``None``: no caliper].
    psm_replacement
        Whether a control pair may be matched to several treated pairs [open; default
        ``False``, greedy nearest-neighbour matching without replacement].
    n_placebo
        Random reassignments in the placebo test (fast mode uses ``n_placebo_fast``).
    outcome_moments
        Chapter 2-3 design [open]: ``"window"`` (default, the paper) builds the entropy
        weights, min-max bounds and CM z-scores on every window year; ``"pre"`` on the years
        before the first designation only, so post-designation changes cannot leak into
        pre-period values (rho below the CM bound is set to the bound).
    control_exposure, exposure_quantile
        ``"all"`` (default) keeps every control pair; ``"clean"`` drops control pairs with a
        city whose tie to a pilot exceeds the ``exposure_quantile`` (default 0.5) of the
        non-pilot cities' strongest pilot ties (:mod:`cbec.study.exposure`).
    year_effects
        ``"year"`` (default) or ``"region_pair_year"``: year effects for every unordered
        pair of regions (regional shocks link pairs that share no city). Kept out of the
        specification curve, whose fast path fits pair and year effects only.
    winsorize
        Clip the outcome at this quantile and its mirror (default 0: no clipping).
    drop_pilot
        A city code whose pairs leave the sample (default None; alternative Hangzhou,
        330100, the most connected pilot).
    boot_weights, n_boot, n_boot_fast
        Wild cluster bootstrap by city (:mod:`cbec.estimators.bootstrap`): weight law and
        draws (fast mode ``n_boot_fast``).
    placebo_strata
        ``"none"`` (default) draws pseudo pilots from all cities; ``"rank_region"`` within
        administrative-rank x region strata and drops pseudo pilot-pilot pairs.
    n_truth_seeds, n_truth_seeds_fast
        Twin seeds over which chapter 2 shows the spread of the estimate-to-truth ratio.
    strict_data
        Chapter 1, real profile: the yearbook loader stops at the first value it would have
        to guess about (a conflicting duplicate, a text that is no number, an impossible
        value, a row without city or year) instead of auditing it. Declared rules (a
        vendor's literal 0 read as missing, missing-value markers, the primary file winning
        over another) still apply and are audited (``python -m cbec book --strict``,
        ``make book STRICT=1``).
    pop_interpolated
        Chapter 1, real profile: fill resident population missing in the files from the
        vendor's own interpolated column [open; default ``False``: interpolations are not
        data]. Every value so filled has an audit row; chapter 1 reports what the default
        costs in cities.
    het_region
        Chapter 4: regions of the pair's regional distribution, the pilot's region by the
        partner's [paper: east/central/west]: ``"region3"`` (default; the NBS three belts of
        ``data/reference/cities.csv``) or ``"region4"`` (east, central, west, northeast).
    het_moderators
        Chapter 4: partner-city moderators split at the median [paper: human capital,
        financial development, information infrastructure; open: measures]. Canonical
        variables of :data:`cbec.data.panel.VARIABLES`; sources in
        :data:`cbec.analyses.heterogeneity.MODERATORS`.
    het_pre
        Chapter 4: the pre-designation value a moderator is split on [open]: ``"pre_mean"``
        (default; the city's mean over the window years before the first designation) or
        ``"first_year"`` (its value in ``first_year``). Either way the treatment cannot move
        a pair between groups.
    het_median_over
        Chapter 4: the median is taken over the treated pairs' partners (``"pairs"``,
        default; two groups of equal pair counts) or over the universe's cities
        (``"cities"``).
    n_het_perm, n_het_perm_fast
        Chapter 4: draws of the group-label permutation test (fast mode uses the second).
    mech_channels
        Chapter 5: channel variables [paper: institutional innovation, resource
        reallocation; open: measures]; canonical variables, sources in
        :data:`cbec.analyses.mechanisms.CHANNELS`.
    mech_innov_measure
        Chapter 5: pair-level institutional-innovation measure [open]: ``"nonpilot_mean"``
        (default; the partner's count in a treated pair, the mean of the two cities in a
        control pair: diffusion to non-pilot cities), ``"pair_mean"`` or ``"pair_min"``.
    mech_realloc_measure
        Chapter 5: pair-level reallocation measure [open]: ``"abs_gap"`` (default; the
        absolute gap between the two cities' misallocation indices, convergence lowers it)
        or ``"nonpilot_mean"`` (the non-pilot side's own index).
    mech_sim_reps
        Chapter 5: replications of the three-step mediation simulation.
    text_dir
        Chapter 6: folder of a real policy-text corpus (``None``, default: the environment
        variable ``CBEC_REAL_TEXT``, else no real text; see :mod:`cbec.text.corpus`).
    text_weighting
        Chapter 6: how coded clauses add up to a city's tool counts [open]: ``"clause"``
        (default; every clause counts one), ``"document"`` (every document counts one, split
        over tools by its shares of tool clauses) or ``"level"`` (clauses weighted by the
        issuing level, ``text_level_weights``).
    text_level_weights
        Chapter 6: weights of State Council, provincial and city documents under
        ``text_weighting="level"`` [open; default (3, 2, 1)].
    text_intensity
        Chapter 6: the pilot's tool intensity that enters the DID interaction [open]:
        ``"per_doc"`` (default; weighted tool count per document, over its documents in the
        window), ``"share"`` (the tool's share of all tool counts) or ``"stock"`` (log of one
        plus the cumulated count at the end of the window). Standardised across pilots.
    text_train_share
        Chapter 6: share of the synthetic documents the second (supervised) coder is
        trained on; the rest is where the two coders are compared.
    mc_live_reps, mc_live_reps_fast
        Chapter 8: replications of the small Monte Carlo study the book reruns live to check
        the committed summary (``data/montecarlo/``) within simulation error (fast mode uses
        the second, on the radiation and no-effect worlds and the paper's TWFE only).
    """

    #: The fields that make the synthetic twin's world (all others are analysis fields).
    #: (Not annotated, so that it is no entry of ``Spec.__dataclass_fields__``.)
    WORLD_FIELDS = (
        "seed",
        "scenario",
        "sim_first_year",
        "sim_last_year",
    )

    profile: Profile = "twin"
    data_dir: str | None = None
    # --- world (twin only): the data-generating process, see WORLD_FIELDS ----------------
    seed: int = DEFAULT_SEED
    scenario: Scenario = "radiation"
    sim_first_year: int = 2005
    sim_last_year: int = 2021
    # --- analysis -------------------------------------------------------------------------
    fast: bool = False
    first_year: int = 2010
    last_year: int = 2019
    universe: Universe = "paper254"
    last_batch: int = 4
    treat_year_rule: TreatYearRule = choice("approval", ("first_full", "date_rule"))
    county_pilot_rule: CountyPilotRule = choice("drop", ("map_to_prefecture",))
    tie_quantile: float = choice(0.5, (0.0, 1 / 3))
    tie_base_year: int | None = choice(None, (2015,))
    index_indicators: tuple[str, ...] = NINE_INDICATORS
    index_input: IndexInput = choice("level", ("growth", "cycle"), stage="outcome")
    z_ddof: int = choice(0, (1,), stage="outcome")
    sync_measure: SyncMeasure = choice("cm", ("kpp", "kpp_resid", "rolling_corr"), stage="outcome")
    cycle_filter: CycleFilter = choice("hp", ("hamilton",), stage="outcome")
    hp_lambda: float = 6.25
    rolling_window: int = 5
    hamilton_horizon: int = 2
    hamilton_lags: int = 2
    controls: tuple[str, ...] = choice(
        ("log_gdp_pc_gap", "log_pop_gap", "service_share_gap"), ((),), stage="estimation"
    )
    cluster: Cluster = choice(
        "pilot_city", ("pair", "twoway", "dyadic", "province"), curve=False, stage="estimation"
    )
    event_window: tuple[int, int] = (-5, 3)
    event_ref: int = -1
    confidence_level: float = 0.95
    psm_covariates: tuple[str, ...] = ("log_tie", "log_distance", "same_region")
    psm_caliper: float | None = 0.05
    psm_replacement: bool = False
    n_placebo: int = 1000
    n_placebo_fast: int = 200
    # --- chapter 1 data (issue 8: the real-data path) -----------------------------------
    strict_data: bool = False
    pop_interpolated: bool = choice(False, (True,), curve=False)
    # --- chapter 2-3 designs (issue: gap to the truth) ---------------------------------
    outcome_moments: Literal["window", "pre"] = choice("window", ("pre",), stage="outcome")
    control_exposure: Literal["all", "clean"] = choice("all", ("clean",))
    exposure_quantile: float = 0.5
    year_effects: Literal["year", "region_pair_year"] = choice(
        "year", ("region_pair_year",), curve=False, stage="estimation"
    )
    winsorize: float = choice(0.0, (0.01,), stage="outcome")
    drop_pilot: int | None = choice(None, (330100,), curve=False)
    boot_weights: Literal["rademacher", "webb"] = choice(
        "rademacher", ("webb",), curve=False, stage="estimation"
    )
    n_boot: int = 999
    n_boot_fast: int = 199
    placebo_strata: Literal["none", "rank_region"] = choice(
        "none", ("rank_region",), curve=False, stage="estimation"
    )
    n_truth_seeds: int = 8
    n_truth_seeds_fast: int = 3
    # --- chapter 4 heterogeneity ---------------------------------------------------------
    het_region: HetRegion = choice("region3", ("region4",), curve=False, stage="estimation")
    het_moderators: tuple[str, ...] = choice(
        ("human_capital", "fin_dev", "info_infra"), curve=False, stage="estimation"
    )
    het_pre: HetPre = choice("pre_mean", ("first_year",), curve=False, stage="estimation")
    het_median_over: HetMedian = choice("pairs", ("cities",), curve=False, stage="estimation")
    n_het_perm: int = 2000
    n_het_perm_fast: int = 1000
    # --- chapter 5 mechanisms ------------------------------------------------------------
    mech_channels: tuple[str, ...] = choice(
        ("inst_innov", "misallocation"), curve=False, stage="estimation"
    )
    mech_innov_measure: MechInnov = choice(
        "nonpilot_mean", ("pair_mean", "pair_min"), curve=False, stage="estimation"
    )
    mech_realloc_measure: MechRealloc = choice(
        "abs_gap", ("nonpilot_mean",), curve=False, stage="estimation"
    )
    mech_sim_reps: int = 500
    # --- chapter 6 policy texts ----------------------------------------------------------
    text_dir: str | None = None
    text_weighting: TextWeighting = choice(
        "clause", ("document", "level"), curve=False, stage="estimation"
    )
    text_level_weights: tuple[float, float, float] = (3.0, 2.0, 1.0)
    text_intensity: TextIntensity = choice(
        "per_doc", ("share", "stock"), curve=False, stage="estimation"
    )
    text_train_share: float = 0.5
    # --- chapter 7 modern DID ------------------------------------------------------------
    cs_base_period: str = choice("universal", ("varying",), curve=False, stage="estimation")
    honest_target: str = choice("average", ("first",), curve=False, stage="estimation")
    # --- chapter 8 Monte Carlo -----------------------------------------------------------
    mc_live_reps: int = 4
    mc_live_reps_fast: int = 3
    # --- chapter 9 specification curve ---------------------------------------------------

    # ------------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        problems = []
        if self.profile not in ("twin", "real"):
            problems.append(f"profile must be 'twin' or 'real', got {self.profile!r}")
        if self.profile == "real" and not self.data_dir:
            problems.append("profile='real' needs data_dir, the folder of your yearbook files")
        if self.first_year >= self.last_year:
            problems.append(
                f"first_year {self.first_year} must be before last_year {self.last_year}"
            )
        if self.profile == "twin" and not (
            self.sim_first_year <= self.first_year and self.last_year <= self.sim_last_year
        ):
            problems.append(
                f"the window {self.first_year}-{self.last_year} must lie inside the simulated "
                f"years {self.sim_first_year}-{self.sim_last_year}"
            )
        if not 0.0 <= self.tie_quantile < 1.0:
            problems.append(f"tie_quantile must be in [0, 1), got {self.tie_quantile}")
        if self.z_ddof not in (0, 1):
            problems.append(f"z_ddof must be 0 or 1, got {self.z_ddof}")
        lo, hi = self.event_window
        if not lo < -1 < 0 <= hi:
            problems.append(f"event_window must straddle -1 and 0, got {self.event_window}")
        if not lo <= self.event_ref < 0:
            problems.append(f"event_ref must be a pre-period inside event_window: {self.event_ref}")
        if not 0.5 <= self.confidence_level < 1.0:
            problems.append(f"confidence_level must be in [0.5, 1), got {self.confidence_level}")
        if self.psm_caliper is not None and not self.psm_caliper > 0:
            problems.append(f"psm_caliper must be positive or None, got {self.psm_caliper}")
        if self.hamilton_horizon < 1 or self.hamilton_lags < 1:
            problems.append("hamilton_horizon and hamilton_lags must be at least 1")
        for name, allowed in (
            ("scenario", Scenario),
            ("treat_year_rule", TreatYearRule),
            ("county_pilot_rule", CountyPilotRule),
            ("universe", Universe),
            ("index_input", IndexInput),
            ("sync_measure", SyncMeasure),
            ("cycle_filter", CycleFilter),
            ("cluster", Cluster),
            ("het_region", HetRegion),
            ("het_pre", HetPre),
            ("het_median_over", HetMedian),
            ("mech_innov_measure", MechInnov),
            ("mech_realloc_measure", MechRealloc),
        ):
            value = getattr(self, name)
            if value not in allowed.__args__:
                problems.append(f"{name} must be one of {allowed.__args__}, got {value!r}")
        if min(self.n_het_perm, self.n_het_perm_fast) < 1 or self.mech_sim_reps < 1:
            problems.append("n_het_perm, n_het_perm_fast and mech_sim_reps must be positive")
        if min(self.mc_live_reps, self.mc_live_reps_fast) < 1:
            problems.append("mc_live_reps and mc_live_reps_fast must be positive")
        if self.text_weighting not in TextWeighting.__args__:
            problems.append(f"text_weighting must be one of {TextWeighting.__args__}")
        if self.text_intensity not in TextIntensity.__args__:
            problems.append(f"text_intensity must be one of {TextIntensity.__args__}")
        if len(self.text_level_weights) != 3 or min(self.text_level_weights) < 0:
            problems.append("text_level_weights must be three non-negative weights")
        if not 0.0 < self.text_train_share < 1.0:
            problems.append(f"text_train_share must be in (0, 1), got {self.text_train_share}")
        if self.cs_base_period not in ("universal", "varying"):
            problems.append(f"cs_base_period must be universal/varying: {self.cs_base_period!r}")
        if self.honest_target not in ("average", "first"):
            problems.append(f"honest_target must be average/first: {self.honest_target!r}")
        for name, allowed in (
            ("outcome_moments", ("window", "pre")),
            ("control_exposure", ("all", "clean")),
            ("year_effects", ("year", "region_pair_year")),
            ("boot_weights", ("rademacher", "webb")),
            ("placebo_strata", ("none", "rank_region")),
        ):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0.0 < self.exposure_quantile < 1.0:
            problems.append(f"exposure_quantile must lie in (0, 1), got {self.exposure_quantile}")
        if not 0.0 <= self.winsorize < 0.5:
            problems.append(f"winsorize must lie in [0, 0.5), got {self.winsorize}")
        if self.n_boot < 1 or self.n_boot_fast < 1 or self.n_truth_seeds < 1:
            problems.append("n_boot, n_boot_fast and n_truth_seeds must be positive")
        if problems:
            raise ValueError("invalid Spec: " + "; ".join(problems))
        # tuples, not lists, so that the Spec stays hashable
        for name in (
            "index_indicators",
            "controls",
            "event_window",
            "psm_covariates",
            "het_moderators",
            "mech_channels",
            "text_level_weights",
        ):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    # ------------------------------------------------------------- derived
    @property
    def years(self) -> range:
        """Years of the estimation window, inclusive."""
        return range(self.first_year, self.last_year + 1)

    @property
    def n_years(self) -> int:
        """T, the number of years in the window."""
        return self.last_year - self.first_year + 1

    @property
    def base_year(self) -> int:
        """Year of the tie score (``tie_base_year`` or the first window year)."""
        return self.tie_base_year if self.tie_base_year is not None else self.first_year

    @property
    def alpha(self) -> float:
        """Size of the tests, ``1 - confidence_level``."""
        return 1.0 - self.confidence_level

    def world_settings(self) -> dict[str, Any]:
        """The world fields (:attr:`WORLD_FIELDS`) as keywords of ``cbec.data.twin.World``."""
        return {name: getattr(self, name) for name in self.WORLD_FIELDS}

    @property
    def draws(self) -> int:
        """Number of placebo draws in force (fast mode uses fewer)."""
        return self.n_placebo_fast if self.fast else self.n_placebo

    @property
    def is_synthetic(self) -> bool:
        """True when results come from the synthetic twin."""
        return self.profile == "twin"

    # ---------------------------------------------------------- construction
    def replace(self, **changes: Any) -> Spec:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str, **changes: Any) -> Spec:
        """A named set of choices (:data:`PRESETS`), e.g.
        ``Spec.preset("real_paper", data_dir=...)``; ``changes`` set other fields."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name], **changes})

    @staticmethod
    def preset_overrides(name: str) -> str:
        """The preset as an ``overrides`` string (for notebooks and ``--set``)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        parts = []
        for k, v in PRESETS[name].items():
            if k == "profile":
                continue
            parts.append(f"{k}={','.join(v) if isinstance(v, tuple) else v}")
        return " ".join(parts)

    @classmethod
    def from_params(
        cls,
        profile: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        fast: bool | None = None,
        overrides: str | None = None,
        **other: Any,
    ) -> Spec:
        """Build a Spec from a notebook's papermill parameters.

        A parameter left at ``None`` is read from the environment (``CBEC_PROFILE``,
        ``CBEC_DATA_DIR``, ``CBEC_SEED``, ``CBEC_FAST``), then from the default. This lets
        the same notebook run under papermill (parameters injected), under nbval (settings
        from the environment) and by hand in JupyterLab (defaults). ``overrides`` (or
        ``CBEC_OVERRIDES``) changes any other field, e.g. ``"scenario=siphon cluster=dyadic"``
        (see :meth:`parse_overrides`).
        """
        env = os.environ
        if profile is None:
            profile = env.get(ENV_PROFILE) or "twin"
        if data_dir is None:
            data_dir = env.get(ENV_DATA_DIR) or None
        if seed is None:
            seed = int(env[ENV_SEED]) if env.get(ENV_SEED) else DEFAULT_SEED
        if fast is None:
            fast = env.get(ENV_FAST, "0").strip().lower() in ("1", "true", "yes")
        if data_dir is not None:
            data_dir = str(Path(data_dir).expanduser().resolve())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(other) - known)
        if unknown:
            raise TypeError(f"unknown Spec fields: {unknown}; known: {sorted(known)}")
        other = {k: v for k, v in other.items() if v is not None}
        other.update(
            cls.parse_overrides(overrides if overrides is not None else env.get(ENV_OVERRIDES))
        )
        return cls(profile=profile, data_dir=data_dir, seed=int(seed), fast=bool(fast), **other)

    @classmethod
    def alternatives(cls, *, curve_only: bool = False) -> dict[str, tuple[Any, ...]]:
        """Declared alternatives of every open choice (see :func:`choice`), by field name."""
        out = {}
        for f in fields(cls):
            alts = f.metadata.get("alternatives")
            if alts and (not curve_only or f.metadata.get("curve", True)):
                out[f.name] = alts
        return out

    @classmethod
    def stage_of(cls, name: str) -> str:
        """The stage a declared choice acts on (``"sample"`` when undeclared)."""
        for f in fields(cls):
            if f.name == name:
                return str(f.metadata.get("stage", "sample"))
        raise KeyError(f"unknown Spec field {name!r}")

    @classmethod
    def parse_overrides(cls, text: str | None) -> dict[str, Any]:
        """Parse ``"scenario=siphon cluster=dyadic tie_base_year=2015"`` into field values.

        Values are read as Python literals where they parse (numbers, ``None``, tuples such as
        ``(-4,3)``), else as strings; a comma-separated value becomes a tuple for tuple fields.
        Unknown fields raise ``ValueError`` with one line naming the field and the known ones;
        the values themselves are validated when the Spec is built.
        """
        import ast
        import shlex

        if not text or not str(text).strip():
            return {}
        known = {f.name: f for f in fields(cls)}
        out: dict[str, Any] = {}
        for item in shlex.split(str(text)):
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form field=value")
            name, raw = item.split("=", 1)
            name = name.strip()
            if name not in known:
                raise ValueError(
                    f"unknown Spec field {name!r} in overrides; known: {', '.join(sorted(known))}"
                )
            try:
                value: Any = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
            default = known[name].default
            if isinstance(default, tuple) and not isinstance(value, tuple):
                value = (
                    tuple(v for v in str(raw).split(",") if v)
                    if isinstance(value, str)
                    else (value,)
                )
            out[name] = value
        return out

    # -------------------------------------------------------------- display
    def changes(self) -> dict[str, Any]:
        """Fields that differ from the defaults (``profile`` always included)."""
        default = Spec(profile="twin")
        out: dict[str, Any] = {"profile": self.profile}
        for f in fields(self):
            if f.name == "profile":
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                out[f.name] = value
        return out

    def describe(self) -> str:
        """One-line stamp printed under every table and figure.

        The data folder appears as its content fingerprint (:func:`data_fingerprint`), never
        as a local path, so the same data give the same stamp on every machine.
        """
        label = "SYNTHETIC twin" if self.is_synthetic else "real yearbook panel"
        parts = [
            f"data={data_fingerprint(v)[:8]}"
            if k == "data_dir"
            else f"text={data_fingerprint(v)[:8]}"
            if k == "text_dir"
            else f"{k}={v}"
            for k, v in self.changes().items()
            if k != "profile"
        ]
        tail = "; ".join(parts) if parts else "defaults"
        return f"Data: {label}. Spec: {tail}. [spec {self.key()}]"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Short hash of every field, for tagging outputs; the same on every machine.

        ``data_dir`` enters as the fingerprint of the folder's content
        (:func:`data_fingerprint`: file names, sizes and content hashes), never as its path,
        so two copies of the same data on two machines give the same key, and a stamp never
        shows a local path.
        """
        d = self.to_dict()
        if d.get("data_dir"):
            d["data_dir"] = data_fingerprint(d["data_dir"])
        if d.get("text_dir"):
            d["text_dir"] = data_fingerprint(d["text_dir"])
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:8]


def data_fingerprint(folder: str | os.PathLike[str]) -> str:
    """Fingerprint of a data folder's content, independent of where the folder lies.

    sha1 over the sorted relative names, sizes and content hashes of its files (hidden files
    and Office lock files, names starting with "." or "~$", are left out). Content
    hashes are cached per (path, size, modification time) for the session; a folder that
    does not exist fingerprints as ``"missing:<folder name>"``.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        return f"missing:{root.name}"
    h = hashlib.sha1()
    hidden = (".", "~$")  # .DS_Store, Office lock files: not data
    files = (
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(hidden) for part in p.relative_to(root).parts)
    )
    for path in sorted(files):
        st = path.stat()
        rel = path.relative_to(root).as_posix()
        digest = _file_sha1(str(path), st.st_size, st.st_mtime_ns)
        h.update(f"{rel}\0{st.st_size}\0{digest}\n".encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=4096)
def _file_sha1(path: str, size: int, mtime_ns: int) -> str:
    """sha1 of one file's bytes (cached on its path, size and modification time)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
