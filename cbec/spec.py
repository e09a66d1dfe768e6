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
from pathlib import Path
from typing import Any, Literal

Profile = Literal["twin", "real"]
Scenario = Literal["radiation", "siphon", "none"]
TreatYearRule = Literal["approval", "first_full", "date_rule"]
CountyPilotRule = Literal["drop", "map_to_prefecture"]
Universe = Literal["paper254", "all"]
IndexInput = Literal["level", "growth", "cycle"]
SyncMeasure = Literal["cm", "kpp", "kpp_resid", "rolling_corr"]
CycleFilter = Literal["hp", "hamilton"]
Cluster = Literal["pair", "pilot_city", "twoway", "dyadic"]

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


def choice(default: Any, alternatives: tuple[Any, ...] = (), *, curve: bool = True) -> Any:
    """Declare an open analysis choice: its default and the alternatives the book studies.

    ``alternatives`` lists the other values a robustness row or the specification curve
    (:mod:`cbec.analyses.speccurve`) tries; ``curve=False`` keeps a declared choice out of the
    curve (for example an inference-only choice that does not move the estimate). A new
    choice joins the curve by being declared here; nothing else is hand-listed.
    """
    meta = {"alternatives": tuple(alternatives), "curve": bool(curve)}
    if isinstance(default, (list, dict, set)):
        raise TypeError("choice defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Spec:
    """Every choice the study makes, with its default.

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
        Twin only: the true policy world, ``"radiation"`` (default; pilot cities pull tied
        partners' cycles along), ``"siphon"`` (cycles drift apart) or ``"none"``.
    fast
        Fast mode for tests and CI: fewer random draws, same data and estimators.
    first_year, last_year
        The estimation window [paper: 2010-2019].
    sim_first_year, sim_last_year
        Years the twin simulates (2005-2021) so that filters and growth have a run-in.
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
        two-year horizon; rolling window length in years.
    controls
        Pair-level controls of the "with controls" columns [open: the paper does not list
        them]; names of columns of the pair panel.
    cluster
        Clustering of the headline standard errors [paper: "by city"; open which]:
        ``"pilot_city"`` (default; the pilot city of a treated pair, the lower-coded city of
        a control pair), ``"pair"``, ``"twoway"`` (both cities) or ``"dyadic"``.
    event_window
        Leads and lags of the event study; endpoints are binned. Default (-5, 3): batch 2
        (2016) reaches three post years inside 2010-2019, so a separate +4 bin would rest
        on Hangzhou's pairs alone (one pilot city, one cluster).
    n_placebo
        Random reassignments in the placebo test (fast mode uses ``n_placebo_fast``).
    """

    profile: Profile = "twin"
    data_dir: str | None = None
    seed: int = DEFAULT_SEED
    scenario: Scenario = "radiation"
    fast: bool = False
    first_year: int = 2010
    last_year: int = 2019
    sim_first_year: int = 2005
    sim_last_year: int = 2021
    universe: Universe = "paper254"
    last_batch: int = 4
    treat_year_rule: TreatYearRule = choice("approval", ("first_full", "date_rule"))
    county_pilot_rule: CountyPilotRule = choice("drop", ("map_to_prefecture",))
    tie_quantile: float = choice(0.5, (0.0, 1 / 3))
    tie_base_year: int | None = choice(None, (2015,))
    index_indicators: tuple[str, ...] = NINE_INDICATORS
    index_input: IndexInput = choice("level", ("growth", "cycle"))
    z_ddof: int = choice(0, (1,))
    sync_measure: SyncMeasure = choice("cm", ("kpp", "kpp_resid", "rolling_corr"))
    cycle_filter: CycleFilter = choice("hp", ("hamilton",))
    hp_lambda: float = 6.25
    rolling_window: int = 5
    controls: tuple[str, ...] = choice(
        ("log_gdp_pc_gap", "log_pop_gap", "service_share_gap"), ((),)
    )
    cluster: Cluster = choice("pilot_city", ("pair", "twoway", "dyadic"), curve=False)
    event_window: tuple[int, int] = (-5, 3)
    n_placebo: int = 1000
    n_placebo_fast: int = 200
    # --- chapter 2-3 designs (issue: gap to the truth) ---------------------------------
    # --- chapter 4 heterogeneity ---------------------------------------------------------
    # --- chapter 5 mechanisms ------------------------------------------------------------
    # --- chapter 6 policy texts ----------------------------------------------------------
    # --- chapter 7 modern DID ------------------------------------------------------------
    # --- chapter 8 Monte Carlo -----------------------------------------------------------
    # --- chapter 9 specification curve ---------------------------------------------------
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

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
        for name, allowed in (
            ("scenario", Scenario),
            ("treat_year_rule", TreatYearRule),
            ("county_pilot_rule", CountyPilotRule),
            ("universe", Universe),
            ("index_input", IndexInput),
            ("sync_measure", SyncMeasure),
            ("cycle_filter", CycleFilter),
            ("cluster", Cluster),
        ):
            value = getattr(self, name)
            if value not in allowed.__args__:
                problems.append(f"{name} must be one of {allowed.__args__}, got {value!r}")
        if problems:
            raise ValueError("invalid Spec: " + "; ".join(problems))
        # tuples, not lists, so that the Spec stays hashable
        for name in ("index_indicators", "controls", "event_window"):
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
            if f.name in ("profile", "extra"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                out[f.name] = value
        return out

    def describe(self) -> str:
        """One-line stamp printed under every table and figure."""
        label = "SYNTHETIC twin" if self.is_synthetic else "real yearbook panel"
        parts = [f"{k}={v}" for k, v in self.changes().items() if k != "profile"]
        tail = "; ".join(parts) if parts else "defaults"
        return f"Data: {label}. Spec: {tail}. [spec {self.key()}]"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-serialisable)."""
        d = dataclasses.asdict(self)
        d.pop("extra", None)
        return d

    def key(self) -> str:
        """Short stable hash of every field, for tagging outputs."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:8]
