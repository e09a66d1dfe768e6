r"""The synthetic twin: real cities, real pilot timing, simulated indicators, known effects.

The twin's world is apart from the analysis. A frozen :class:`World` holds everything the
data-generating process uses (seed, scenario, simulated years, its own designation rule and
tie base year, effect sizes); :func:`simulate_twin` reads nothing else, so no analysis choice
of :class:`~cbec.spec.Spec` (treatment-year rule, tie base year or quantile, county rule,
universe, window) changes a simulated number, and every robustness row of the book compares
its estimate with one fixed truth. ``World.from_spec(spec)`` is the world of a Spec.

:func:`simulate_twin` simulates every unit of the city registry (:func:`world_cities`: real
administrative codes, coordinates, ranks, regions, and the real State Council signing dates
of the pilot roster, the one source of pilot dates) and every canonical variable of
:data:`cbec.data.panel.VARIABLES` for every year ``world.sim_first_year ..
world.sim_last_year``; the study then keeps its universe's cities. It returns the factual panel and the
counterfactual panel of the same world *without* the policy, both built from the same
random shocks, so the true effect of the policy on any measure is "measure on the factual
panel minus measure on the counterfactual panel".

Model
-----
City :math:`i`, year :math:`t`, region :math:`r(i)` (east, central, west, northeast),
pilot city :math:`p` designated in year :math:`T_p`. Growth rates are in percent.

**Untreated growth** (real GDP growth in the world without the policy)

.. math::

    g^0_{it} = \mu_t + \kappa_i + (b_i - 1)\,n_t + \ell_i R_{r(i)t} + e_{it},
    \qquad e_{it} = \phi\, e_{i,t-1} + \sigma_e \varepsilon_{it}.

* :math:`\mu_t = \mathrm{NBS}_t + \pi_t`: national real GDP growth (National Bureau of
  Statistics, revised series, rounded) plus the premium of local over national figures
  (:math:`\pi_t` = 2 points to 2012, falling linearly to 0.8 by 2016; on the gap between
  local and national accounts see Chen, Chen, Hsieh & Song 2019). The twin thus has the real
  2007 peak, the 2009 dip, the 2012-2019 slowdown and the 2020 covid trough.
* :math:`n_t = \mu_t - \mathrm{HP}_{6.25}(\mu)_t`, the national cycle (Hodrick & Prescott
  1997 with the annual smoothing of Ravn & Uhlig 2002); :math:`\mu_t` carries one unit of
  it, :math:`b_i \sim N(1, 0.35^2)` is the city's loading.
* :math:`R_{rt} = 0.5 R_{r,t-1} + \zeta_{rt}`, :math:`\zeta \sim N(0, 1)`: regional cycles,
  plus the northeast slump of 2014-2017 (-1.5, -2.5, -2.5, -1.5 points);
  :math:`\ell_i \sim N(1, 0.3^2)`.
* :math:`\kappa_i = -0.8\,(\tilde y_{i0} - \overline{\tilde y_0}) + N(0, 0.9^2)`: the
  city's growth premium, with conditional convergence.
* :math:`e_{it}`: idiosyncratic AR(1), :math:`\phi = 0.45`, Student-t(5) innovations
  scaled to :math:`\sigma_e = 2`, started from the stationary law.

**Levels.** Log real GDP per capita (2010 prices)
:math:`y_{it} = y_{i,t-1} + \ln(1 + g_{it}/100) - \Delta \ln P_{it}` with resident
population :math:`P_{it}` (its own drift by region and rank; the policy does not move it).
The starting level is :math:`y_{i,t_0-1} = D_{t_0-1} + \tilde y_{i0}`,
:math:`\tilde y_{i0} = \alpha_{r(i)} + \alpha_{\mathrm{rank}(i)} + N(0, 0.42^2)`, where
:math:`D_t` is the national path (25,000 yuan in 2010, moved by :math:`\mu_t` less 0.5%
population growth). :math:`\tilde y_{it} = y_{it} - D_t` is the city's relative
development level.

**Indicators.** Every indicator is a function of :math:`\tilde y_{it}` and national trends
(price level, average wage, broadband diffusion) plus a city effect and its own AR(1)
noise (:math:`\rho = 0.7`), so the nine index indicators are positively correlated through
the development level and each has its own noise:

* ``fai_pc``, ``retail_pc``, ``savings_pc``: nominal GDP per capita times a ratio
  (investment 0.5 rising to 0.95 by 2015, retail 0.36, savings 0.65 rising 1% a year);
* ``service_share`` :math:`= 100\,\Lambda(-0.35 + 0.02(t-2005) + 0.35\tilde y + \dots)`;
  the primary share takes a fraction of the rest, ``secondary_share`` the remainder;
* ``fdi_pc`` (US dollars) :math:`= 60\,e^{1.6\tilde y + 0.6\,\mathrm{east} + \dots}`;
* ``industrial_output``: nominal GDP x secondary share x a gross-output ratio of 3.3;
* ``wage``: the national average wage (NBS) times :math:`e^{0.25\tilde y + \dots}`.

The policy reaches the indicators only through :math:`y` and :math:`g`. The covariates
human capital, financial development and information infrastructure are functions of the
*untreated* :math:`\tilde y^0`: the policy does not move them, so they are pre-determined
moderators and valid controls.

**Ties.** Gravity ties of :mod:`cbec.data.geo` in the world's base year
``world.tie_base_year`` (2010; untreated values, identical in both worlds): :math:`F_{ij} = m_i m_j / D_{ij}^2`,
:math:`m = (\mathrm{pop}\cdot \mathrm{gdp} \cdot \mathrm{area} \cdot \mathrm{rank})^{1/4}`.
With :math:`q_{ij}` the percentile of :math:`F_{ij}` among all pairs of the world's cities, a
tie at or below the median carries nothing and a stronger one carries

.. math::

    \tilde\omega_{ij} = \Big(\frac{q_{ij} - 0.5}{0.5}\Big)^{\gamma},\qquad \gamma = 3,

so the top decile of ties gets 0.5-1 and a tie at the 60th percentile 0.008.

**Build-up.** :math:`B(k) = 0` for :math:`k < 0`, then 1/3, 2/3 in the designation year and
the next, and 1 from the second year after designation on. Scenario ``"growing"``:
:math:`B(k) = (k + 1)/3` for :math:`k \ge 0`, an effect that keeps growing with exposure.

**Policy tools.** Every pilot :math:`p` designated inside the simulation has three
policy-tool intensities :math:`z_{pk}`, :math:`k \in` :data:`POLICY_TOOLS` = (supply,
environment, demand), drawn :math:`N(0, 1)` from the seed and standardised over those
pilots, and a policy strength

.. math::

    s_p = \max\bigl(0,\; 1 + \beta_{\mathrm{supply}} z_{p,\mathrm{supply}}
    + \beta_{\mathrm{environment}} z_{p,\mathrm{environment}}
    + \beta_{\mathrm{demand}} z_{p,\mathrm{demand}}\bigr)

with the known coefficients ``EFFECT["tool_supply"]`` = 0.25, ``EFFECT["tool_environment"]``
= 0.10 and ``EFFECT["tool_demand"]`` = 0 (demand-side tools do nothing). Every policy term
of pilot :math:`p` below uses :math:`s_p B(t - T_p)` in place of :math:`B(t - T_p)`, so the
radiation effect of a pilot rises by :math:`\beta_k` (in proportion) per sd of tool
:math:`k`. ``meta["policy_tools"]`` lists :math:`z_{pk}` and :math:`s_p` by city.

**The policy** (factual growth :math:`g = g^0 + \Delta g`). Two sides, both using the
partner's responsiveness :math:`h_j` (below).

*Pilot side* -- the pilot's growth moves toward (radiation, growing, no_spillover) or away
from (siphon) its hinterland, the mean growth of its not-yet-designated partners weighted by
:math:`\nu_{pjt} \propto \tilde\omega_{pj} h_j^2 \mathbf 1[T_j > t]`:
:math:`A_{pt} = \min(1, \theta_P B(t - T_p))`, :math:`H_{pt} = \sum_j \nu_{pjt} g^0_{jt}`.

*Partner side* -- partner :math:`j` absorbs part of its pilots' growth:
:math:`a_{jpt} = \theta_J\, h_j\, \omega_{jp}\, B(t - T_p)` with
:math:`\omega_{jp} = \tilde\omega_{jp} / \max(1, \sum_q \tilde\omega_{jq})` (so a strongly
tied partner gets most of it and no partner's weights sum above one), rows rescaled so that
:math:`E_{jt} = \sum_p a_{jpt} \le a_{\max}`. Its exposure is
:math:`X_{jt} = \min(2, h_j \sum_p \omega_{jp} B(t - T_p))`.

.. math::

    \text{radiation:}\quad \Delta g_{pt} &\mathrel{+}= A_{pt}(H_{pt} - g^0_{pt}),\qquad
    \Delta g_{jt} \mathrel{+}= \textstyle\sum_p a_{jpt}(g^0_{pt} - g^0_{jt})
    + \delta_R X_{jt}, \\
    \text{siphon:}\quad \Delta g_{pt} &\mathrel{+}= -A_{pt}(H_{pt} - g^0_{pt})
    + \delta_P B(t - T_p),\qquad
    \Delta g_{jt} \mathrel{+}= -\textstyle\sum_p a_{jpt}(g^0_{pt} - g^0_{jt})
    - \delta_S X_{jt},

``"growing"``: the radiation equations with the growing build-up; ``"no_spillover"``: the
radiation equations with the partner side switched off (:math:`a = 0`, :math:`X = 0`), so
only pilots move and cities of a control pair keep their counterfactual data exactly;
and ``"none"``: :math:`\Delta g = 0` (the factual panel *is* the counterfactual). A pilot is
also a partner of the other pilots (those pairs lie outside the paper's sample); all terms
use untreated growth, so there is no feedback.

*Responsiveness* of partner :math:`j`:
:math:`\ln h_j = \eta_{r(j)} + \eta_H z^H_j + \eta_F z^F_j + \eta_N z^N_j + c`, with
:math:`z` the cross-city standardised logs of human capital, financial development and
information infrastructure in the last year before the first designation, :math:`c` making
:math:`\bar h = 1`, then clipped to [0.2, 2.5]. See :data:`HETEROGENEITY` (east 0.4,
central 0, west -0.3, northeast -0.15; 0.25 per sd of each moderator). Because the
hinterland weights use :math:`h^2` and the partner weights :math:`h`, responsive (eastern,
high human capital, deep finance, well connected) partners gain the most.

**Mechanisms.** The policy weights are attributed to three channels in the fixed shares
:data:`MECHANISM_SHARES` (institutional innovation, resource reallocation, direct), and the
two named channels leave footprints proportional to the exposure:

* ``inst_innov`` (cumulative count of institutional innovations adopted): Poisson flows
  drawn from common uniforms (so the two worlds share their randomness), at a base rate of
  0.3 a year from 2013 (reforms unrelated to the pilots) plus, factual only, 6 a year for a
  designated pilot (times :math:`B`) and :math:`c_I (\pi_I / 0.4) X_{jt}` for a partner
  (:math:`c_I = 4`; radiation only: under siphon innovations stay in the pilot).
* ``misallocation`` :math:`M`: under radiation the partner's index closes a share
  :math:`c_R (\pi_R / 0.35) \min(1, X_{jt})` of its gap to its pilots' :math:`a`-weighted
  mean; under siphon it rises by the factor :math:`1 + \tfrac12 c_R (\pi_R/0.35)
  \min(1, X_{jt})` (:math:`c_R = 0.5`).

**Size of the effect.** Measured with the default analysis (the ``paper254`` universe, an
entropy-weight index of the nine indicators over 2010-2019, population-sd z-scores, the
Cerqueira-Martins index, above-median-tie pairs), averaged over 8 seeds (20230221 to
20230228, one draw each): the true ATT on treated pair-years (factual minus
counterfactual, after designation) is about +0.15 sd of the outcome under radiation and
growing, +0.08 under no_spillover and -0.17 under siphon; on minus the absolute growth gap
(Kalemli-Ozcan, Papaioannou & Peydro 2013) +0.37, +0.39, +0.19 and -0.41 sd. Control pairs
move too (about +0.02 sd under radiation, 0.003 under no_spillover, where only the entropy
weights of the index still differ between the two worlds), and the z-scores spread part of
the post-designation change into the earlier years of the same pair, so a pair-and-year
fixed-effects DID on the level index picks up about three quarters of the ATT under
radiation (one tenth under siphon).

Parameter values are in :data:`EFFECT`, :data:`HETEROGENEITY`, :data:`MECHANISM_SHARES` and
:data:`MECHANISM_SCALE`; :attr:`CityPanel.meta` records them with the seed.

Everything is deterministic given ``world.seed``: one ``numpy.random.default_rng`` and all
draws happen before the scenario is applied, so the counterfactual panel is the same under
every scenario.

Designation years :math:`T_p`: :func:`cbec.data.reference.treatment_year` of the pilot's
signing date (``data/reference/pilot_areas.csv`` via
:func:`cbec.data.reference.designation_dates`; prefecture-level areas only unless
``world.county_areas``) under the world's ``onset_rule`` (``"approval"``: the signing year);
only years up to ``world.sim_last_year`` matter. Batch-5 cities (approved April 2020) are
therefore treated in the twin's 2020-2021, as in reality, and "never treated" is false after
2019. The analysis's ``Spec.treat_year_rule`` is the analyst's guess of :math:`T_p`; it
does not move the world.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from cbec.data import reference
from cbec.data.geo import city_mass, gravity_tie, haversine_km
from cbec.data.panel import VARIABLES, CityPanel, empty_audit
from cbec.spec import DEFAULT_SEED, SCENARIOS, Spec

FloatArray = NDArray[np.float64]
ArrayLikeInt = NDArray[np.int64] | int

#: Years the national tables cover.
TABLE_YEARS: tuple[int, int] = (2000, 2023)

#: National real GDP growth, percent (NBS, revised series, rounded to 0.1).
NATIONAL_GROWTH: dict[int, float] = dict(
    zip(
        range(TABLE_YEARS[0], TABLE_YEARS[1] + 1),
        (8.5, 8.3, 9.1, 10.0, 10.1, 11.4, 12.7, 14.2, 9.7, 9.4, 10.6, 9.6,
         7.9, 7.8, 7.4, 7.0, 6.8, 6.9, 6.7, 6.0, 2.2, 8.4, 3.0, 5.2),
        strict=True,
    )
)  # fmt: skip

#: Growth of the national implicit GDP deflator, percent (NBS, rounded).
NATIONAL_INFLATION: dict[int, float] = dict(
    zip(
        range(TABLE_YEARS[0], TABLE_YEARS[1] + 1),
        (2.1, 2.0, 0.6, 2.6, 6.9, 3.9, 3.9, 7.7, 7.8, -0.2, 6.9, 8.1,
         2.3, 2.2, 0.8, 0.1, 1.4, 4.2, 3.5, 1.3, 0.5, 4.6, 2.2, -0.5),
        strict=True,
    )
)  # fmt: skip

#: Average wage of employees in urban non-private units, yuan (NBS); log-linear between.
NATIONAL_WAGE_KNOTS: dict[int, float] = {
    2000: 9371.0,
    2005: 18200.0,
    2010: 36539.0,
    2015: 62029.0,
    2019: 90501.0,
    2020: 97379.0,
    2021: 106837.0,
    2022: 114029.0,
    2023: 120698.0,
}

#: Premium of local over national growth, percentage points: (years, values), interpolated.
LOCAL_PREMIUM: tuple[tuple[int, int], tuple[float, float]] = ((2012, 2016), (2.0, 0.8))

REGIONS: tuple[str, ...] = ("east", "central", "west", "northeast")

#: True effect sizes of the policy (growth in percentage points).
EFFECT: dict[str, float] = {
    "theta_P": 0.6,  # pilot side: share of the gap to its hinterland's growth closed (opened)
    "theta_J": 0.4,  # partner side: share of its pilots' growth gap an average partner absorbs
    "gamma": 3.0,  # concentration of tie weights on the strongest ties
    "a_max": 0.9,  # cap on a partner's total weight sum_p a_jpt
    "x_max": 2.0,  # cap on a partner's exposure X_jt
    "delta_R": 0.3,  # radiation: partner's growth spillover at exposure 1 (points)
    "delta_S": 1.0,  # siphon: drain of the partner's growth at exposure 1 (points)
    "delta_P": 1.0,  # siphon: the pilot's own gain once built up (points)
    "tie_cutoff_quantile": 0.5,  # ties at or below this quantile carry nothing
    "tool_supply": 0.25,  # strength s_p per sd of the pilot's supply-side tool intensity
    "tool_environment": 0.10,  # ... per sd of its environment-side tool intensity
    "tool_demand": 0.0,  # ... per sd of its demand-side tool intensity (no effect)
}

#: The three policy-tool intensities of every pilot city (Rothwell & Zegveld's classes).
POLICY_TOOLS: tuple[str, ...] = ("supply", "environment", "demand")

#: Build-up B(k) in the designation year (k = 0) and the next (k = 1); 1 from k = 2 on.
BUILDUP: tuple[float, ...] = (1.0 / 3.0, 2.0 / 3.0)

#: Responsiveness h: region intercepts of ln h and loadings per sd of the log moderators.
HETEROGENEITY: dict[str, float] = {
    "east": 0.4,
    "central": 0.0,
    "west": -0.3,
    "northeast": -0.15,
    "human_capital": 0.25,
    "fin_dev": 0.25,
    "info_infra": 0.25,
    "h_min": 0.2,
    "h_max": 2.5,
}

#: Share of the policy weights attributed to each channel, by scenario.
MECHANISM_SHARES: dict[str, dict[str, float]] = {
    "radiation": {"inst_innov": 0.4, "misallocation": 0.35, "direct": 0.25},
    "siphon": {"inst_innov": 0.0, "misallocation": 0.6, "direct": 0.4},
    "growing": {"inst_innov": 0.4, "misallocation": 0.35, "direct": 0.25},
    "no_spillover": {"inst_innov": 0.4, "misallocation": 0.35, "direct": 0.25},
    "none": {"inst_innov": 0.0, "misallocation": 0.0, "direct": 0.0},
}

#: Footprint scales: partner innovations a year at exposure 1 and share 0.4 (c_I), share of
#: the misallocation gap closed at exposure 1 and share 0.35 (c_R), a designated pilot's
#: innovations a year, and the base rate of unrelated reforms from 2013.
MECHANISM_SCALE: dict[str, float] = {
    "c_I": 4.0,
    "c_R": 0.5,
    "pilot_innov": 6.0,
    "base_innov": 0.3,
    "base_innov_from": 2013,
}

#: Columns of the city frame the twin reads (:func:`world_cities` builds it).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "city_id",
    "region4",
    "admin_rank",
    "lon",
    "lat",
    "designated",
)

# Indicator noise: city effect sd and AR(1) (rho 0.7) stationary sd, in logs or logits.
_NOISE: dict[str, tuple[float, float]] = {
    "fai": (0.25, 0.05),
    "serv": (0.25, 0.03),
    "prim": (0.35, 0.04),
    "fdi": (0.75, 0.15),
    "io": (0.3, 0.05),
    "retail": (0.2, 0.03),
    "sav": (0.25, 0.03),
    "wage": (0.12, 0.02),
    "hc": (0.55, 0.05),
    "fin": (0.3, 0.05),
    "info": (0.3, 0.05),
    "mis": (0.5, 0.08),
}
_NOISE_RHO = 0.7
_NORTHEAST_SLUMP: dict[int, float] = {2014: -1.5, 2015: -2.5, 2016: -2.5, 2017: -1.5}


# --------------------------------------------------------------------------- helpers
def buildup(k: ArrayLikeInt, *, growing: bool = False) -> FloatArray:
    """B(k): 0 before designation (k < 0), 1/3 and 2/3 in the first two years, then 1.

    ``growing=True`` (scenario ``"growing"``): :math:`B(k) = (k + 1)/3` for every
    :math:`k \\ge 0`, so the effect keeps growing with the years of exposure.
    """
    k = np.asarray(k)
    if growing:
        return np.where(k >= 0, (k + 1.0) / 3.0, 0.0)
    out = np.where(k >= len(BUILDUP), 1.0, 0.0)
    for lag, val in enumerate(BUILDUP):
        out = np.where(k == lag, val, out)
    return out


# --------------------------------------------------------------------------- the world
@dataclass(frozen=True)
class World:
    """Everything the twin's data-generating process uses, apart from the analysis.

    No field of the analysis (:class:`~cbec.spec.Spec`'s treatment-year rule, tie base year,
    tie quantile, county rule, universe, window, ...) reaches the simulation: the twin is
    simulated for a ``World`` and the analysis then selects, times and filters. Build the
    world of a Spec with :meth:`from_spec`.

    Parameters
    ----------
    seed
        Seed of every random draw of the world.
    scenario
        The true policy world (:data:`cbec.spec.SCENARIOS`): ``"radiation"``, ``"siphon"``,
        ``"growing"`` (radiation whose effect keeps growing with the years of exposure),
        ``"no_spillover"`` (radiation on the pilot side only: partners, hence control pairs,
        are untouched) or ``"none"``.
    sim_first_year, sim_last_year
        Years simulated (2005-2021 by default, a run-in before the 2010-2019 window).
    onset_rule
        The world's fact of when the policy starts to act, applied to the real State Council
        signing dates of ``data/reference/pilot_areas.csv``: ``"approval"`` (the signing
        year, with the build-up :data:`BUILDUP`). Any rule of
        :func:`cbec.data.reference.treatment_year` is accepted.
    tie_base_year
        Year whose (untreated) population and GDP make the spillover network's tie scores.
    county_areas
        Whether a county-level pilot area (Yiwu, Hunchun, Suifenhe, Xiong'an) designates
        its prefecture in the world. Default ``False``: the prefecture stays untreated.
    effect
        Overrides of :data:`EFFECT` as ``(name, value)`` pairs (a dict is accepted), e.g.
        ``World(effect={"theta_P": 0.3})`` for simulation studies that vary the truth.
    """

    seed: int = DEFAULT_SEED
    scenario: str = "radiation"
    sim_first_year: int = 2005
    sim_last_year: int = 2021
    onset_rule: str = "approval"
    tie_base_year: int = 2010
    county_areas: bool = False
    effect: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        eff = self.effect
        if isinstance(eff, Mapping):
            eff = tuple(sorted((str(k), float(v)) for k, v in eff.items()))
        else:
            eff = tuple(sorted((str(k), float(v)) for k, v in eff))
        object.__setattr__(self, "effect", eff)
        _effect(dict(eff))  # validates names and ranges
        problems = []
        if self.scenario not in SCENARIOS:
            problems.append(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.onset_rule not in reference.TREAT_YEAR_RULES:
            problems.append(
                f"onset_rule must be one of {reference.TREAT_YEAR_RULES}, got {self.onset_rule!r}"
            )
        if self.sim_first_year < TABLE_YEARS[0] or self.sim_last_year > TABLE_YEARS[1]:
            problems.append(
                f"the twin covers {TABLE_YEARS[0]}-{TABLE_YEARS[1]}; got sim years "
                f"{self.sim_first_year}-{self.sim_last_year}"
            )
        if self.sim_last_year - self.sim_first_year < 3:
            problems.append("the twin needs at least four simulated years")
        if not self.sim_first_year <= self.tie_base_year <= self.sim_last_year:
            problems.append(f"tie base year {self.tie_base_year} is outside the simulated years")
        if problems:
            raise ValueError("invalid World: " + "; ".join(problems))

    @classmethod
    def from_spec(cls, spec: Spec, **changes: Any) -> World:
        """The world of ``spec``: its world settings (:meth:`Spec.world_settings`) only."""
        return cls(**{**spec.world_settings(), **changes})

    def replace(self, **changes: Any) -> World:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def years(self) -> NDArray[np.int64]:
        """Simulated years."""
        return np.arange(self.sim_first_year, self.sim_last_year + 1)

    def effects(self) -> dict[str, float]:
        """:data:`EFFECT` with this world's overrides."""
        return _effect(dict(self.effect))

    def cities(self) -> pd.DataFrame:
        """The world's cities: every unit of the registry with its designation date."""
        return world_cities(self)


def world_cities(world: World | None = None) -> pd.DataFrame:
    """Every prefecture-level unit of the registry, with the date its policy was signed.

    The twin simulates all 339 units of ``data/reference/cities.csv`` whatever the analysis
    later selects, so its spillover network and its draws never depend on the study's
    universe. Designation dates come from the pilot roster
    (:func:`cbec.data.reference.designation_dates`), the one source of pilot dates.

    Returns
    -------
    pandas.DataFrame
        Registry columns plus ``designated`` (datetime64; NaT for a city never designated)
        and ``batch`` (Int64), sorted by ``city_id``.
    """
    world = World() if world is None else world
    cities = reference.load_cities()
    dates = reference.designation_dates(county_areas=world.county_areas).set_index("city_id")
    out = cities.copy()
    out["designated"] = out["city_id"].map(dates["date"])
    out["batch"] = out["city_id"].map(dates["batch"]).astype("Int64")
    return out


def _effect(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """EFFECT with validated overrides."""
    eff = dict(EFFECT)
    if overrides:
        unknown = sorted(set(overrides) - set(EFFECT))
        if unknown:
            raise ValueError(f"unknown effect parameters {unknown}; known: {sorted(EFFECT)}")
        eff.update({k: float(v) for k, v in overrides.items()})
    for k in ("theta_P", "theta_J", "a_max"):
        if not 0.0 <= eff[k] <= 1.0:
            raise ValueError(f"effect parameter {k} must lie in [0, 1], got {eff[k]}")
    if not 0.0 <= eff["tie_cutoff_quantile"] < 1.0:
        raise ValueError("effect parameter tie_cutoff_quantile must lie in [0, 1)")
    if eff["gamma"] <= 0 or eff["x_max"] <= 0:
        raise ValueError("effect parameters gamma and x_max must be positive")
    return eff


def _hp_trend(x: FloatArray, lam: float) -> FloatArray:
    """Hodrick-Prescott trend of a short series (dense solve; Hodrick & Prescott 1997)."""
    n = x.size
    d = np.diff(np.eye(n), n=2, axis=0)
    return np.linalg.solve(np.eye(n) + lam * d.T @ d, x)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float, sd: float) -> FloatArray:
    """Stationary AR(1) paths along axis 1 with stationary sd ``sd``."""
    eps = rng.standard_normal(shape) * sd * np.sqrt(1.0 - rho**2)
    out = np.empty(shape)
    out[:, 0] = eps[:, 0] / np.sqrt(1.0 - rho**2)
    for t in range(1, shape[1]):
        out[:, t] = rho * out[:, t - 1] + eps[:, t]
    return out


def _logistic(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _check_cities(universe: pd.DataFrame) -> None:
    """Raise a clear error on anything the twin cannot use."""
    if not isinstance(universe, pd.DataFrame):
        raise TypeError(f"universe must be a pandas DataFrame, got {type(universe).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in universe.columns]
    if missing:
        raise ValueError(f"universe lacks columns {missing} (needs {list(REQUIRED_COLUMNS)})")
    if len(universe) < 3:
        raise ValueError(f"universe needs at least 3 cities, got {len(universe)}")
    ids = universe["city_id"]
    if ids.isna().any():
        raise ValueError("universe has missing city_id")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ValueError(f"universe has duplicate city_id, first {dup.iloc[0]}")
    reg = universe["region4"].astype("string")
    badreg = ~reg.isin(REGIONS).fillna(False).to_numpy(dtype=bool)
    if badreg.any():
        k = int(np.flatnonzero(badreg)[0])
        raise ValueError(
            f"region4 must be one of {REGIONS}; city {ids.iloc[k]} has {reg.iloc[k]!r}"
        )
    rank = pd.to_numeric(universe["admin_rank"], errors="coerce")
    badrank = ~rank.isin([1, 2, 3, 4]).to_numpy(dtype=bool)
    if badrank.any():
        k = int(np.flatnonzero(badrank)[0])
        raise ValueError(f"admin_rank must be 1-4; city {ids.iloc[k]} has {rank.iloc[k]!r}")
    # China spans about 73-135 E and, with the South China Sea islands, 3-54 N
    for c, lo, hi in (("lon", 73.0, 136.0), ("lat", 3.0, 54.0)):
        v = pd.to_numeric(universe[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (v < lo) | (v > hi)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{c} must be degrees inside China; city {ids.iloc[k]} has {v[k]}")
    try:
        pd.to_datetime(universe["designated"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"column 'designated' must hold dates (NaT: never): {err}") from err
    same = universe[["lon", "lat"]].round(6).duplicated(keep=False).to_numpy()
    if same.any():
        raise ValueError(
            f"cities {ids[same].tolist()[:4]} share coordinates; gravity ties need distinct seats"
        )


def onset_years(cities: pd.DataFrame, world: World) -> pd.Series:
    """The world's designation year of every city (Int64; NA: never designated).

    :func:`cbec.data.reference.treatment_year` of the ``designated`` date under
    ``world.onset_rule``; only years up to ``world.sim_last_year`` act in the simulation.
    """
    dates = pd.to_datetime(cities["designated"])
    out = reference.treatment_year(dates, world.onset_rule).astype("Int64")
    early = (out <= world.sim_first_year).fillna(False).to_numpy(dtype=bool)
    if early.any():
        bad = cities.loc[early, "city_id"].tolist()[:5]
        raise ValueError(
            f"designation years at or before the first simulated year {world.sim_first_year} "
            f"(no untreated year to simulate) for cities {bad}"
        )
    return out


# --------------------------------------------------------------------------- national paths
def _national(spec: World) -> dict[str, Any]:
    years = np.arange(spec.sim_first_year, spec.sim_last_year + 1)
    all_years = np.arange(TABLE_YEARS[0], TABLE_YEARS[1] + 1)
    (x0, x1), (v0, v1) = LOCAL_PREMIUM
    mu_all = np.array([NATIONAL_GROWTH[int(y)] for y in all_years])
    mu_all = mu_all + np.interp(all_years, [x0, x1], [v0, v1])
    lg = np.log1p(mu_all / 100.0) - 0.005  # national growth of GDP per capita, logs
    k10 = 2010 - TABLE_YEARS[0]
    d_all = np.log(25000.0) + np.cumsum(lg) - np.cumsum(lg)[k10]  # D_t, end of year t
    k0 = spec.sim_first_year - TABLE_YEARS[0]
    sel = years - TABLE_YEARS[0]
    infl = np.array([NATIONAL_INFLATION[int(y)] for y in all_years])
    lp = np.cumsum(np.log1p(infl / 100.0))
    kx = np.array(sorted(NATIONAL_WAGE_KNOTS), dtype=float)
    ky = np.log([NATIONAL_WAGE_KNOTS[int(k)] for k in kx])
    mu = mu_all[sel]
    return {
        "years": years,
        "mu": mu,
        "ncyc": mu - _hp_trend(mu, 6.25),
        "dpath": d_all[sel],
        "d_prev": d_all[k0] - lg[k0],
        "price": np.exp(lp[sel] - lp[k10]),  # 2010 = 1
        "wage": np.exp(np.interp(years.astype(float), kx, ky)),
    }


# --------------------------------------------------------------------------- main
def simulate_twin(world: World | None = None, cities: pd.DataFrame | None = None) -> CityPanel:
    """Simulate the synthetic twin panel and its no-policy counterfactual.

    Parameters
    ----------
    world
        The data-generating process (:class:`World`; default ``World()``). Build the world
        of a Spec with ``World.from_spec(spec)``; no analysis choice enters.
    cities
        One row per city with ``city_id`` (int), ``region4`` (east/central/west/northeast),
        ``admin_rank`` (1-4), ``lon``, ``lat`` and ``designated`` (the date the city's pilot
        policy was signed; NaT if never). Default :func:`world_cities`: every unit of the
        registry with the roster's dates. Other columns are ignored.

    Returns
    -------
    CityPanel
        ``profile="twin"``. ``data`` (factual) and ``counterfactual`` have one row per
        city-year sorted by city and year, with ``city_id``, ``year`` and every variable
        of :data:`cbec.data.panel.VARIABLES`, no missing values. ``meta`` holds the true
        parameters (:func:`true_parameters`) and: ``"onset"`` (city to designation year,
        only years inside the simulation), ``"weights"`` (frame pilot_id, partner_id,
        omega = partner-side weight, nu = pilot-side hinterland weight before masking
        designated cities, tie_pct = percentile of the tie), ``"h"`` (responsiveness by
        city), ``"exposure"`` (frame city_id, year, pilot_weight A, partner_weight E,
        exposure X), ``"policy_tools"`` (frame city_id, supply, environment, demand,
        strength: the standardised tool intensities :math:`z_{pk}` and the strength
        :math:`s_p` of every pilot designated inside the simulation) and ``"tie_cutoff"``
        (the median tie score).
    """
    world = World() if world is None else world
    universe = world_cities(world) if cities is None else cities
    _check_cities(universe)
    spec = world  # the fields read below: seed, scenario, sim years, tie_base_year
    eff = world.effects()
    # draws follow the sorted city codes, so the row order of the cities does not matter
    u = universe.sort_values("city_id").reset_index(drop=True)
    rng = np.random.default_rng(spec.seed)
    nat = _national(spec)
    years = nat["years"]
    n, nt = len(u), len(years)
    ids = u["city_id"].astype("int64").to_numpy()
    reg_idx = np.array([REGIONS.index(r) for r in u["region4"].astype("string")])
    rank = pd.to_numeric(u["admin_rank"]).to_numpy(dtype=float)
    east = (reg_idx == 0).astype(float)
    west = (reg_idx == 2).astype(float)
    neast = (reg_idx == 3).astype(float)
    big = (rank >= 2).astype(float)  # capitals, sub-provincial cities, municipalities
    muni = (rank == 4).astype(float)
    tt = (years - 2005).astype(float)[None, :]

    # ------------------------------------------------------------ random draws (fixed order)
    alpha_reg = np.array([0.35, -0.15, -0.30, 0.10])[reg_idx]
    alpha_rank = np.array([0.0, 0.0, 0.35, 0.60, 0.45])[rank.astype(int)]
    ytil0 = alpha_reg + alpha_rank + 0.42 * rng.standard_normal(n)
    kappa = -0.8 * (ytil0 - ytil0.mean()) + 0.9 * rng.standard_normal(n)
    b_nat = 1.0 + 0.35 * rng.standard_normal(n)
    l_reg = 1.0 + 0.30 * rng.standard_normal(n)
    rcyc = _ar1(rng, (len(REGIONS), nt), 0.5, 1.0 / np.sqrt(1 - 0.25))
    for y, v in _NORTHEAST_SLUMP.items():
        if spec.sim_first_year <= y <= spec.sim_last_year:
            rcyc[3, y - spec.sim_first_year] += v
    tdf, phi, sig_e = 5.0, 0.45, 2.0
    eps = rng.standard_t(tdf, size=(n, nt)) / np.sqrt(tdf / (tdf - 2.0)) * sig_e
    e = np.empty((n, nt))
    e[:, 0] = eps[:, 0] / np.sqrt(1.0 - phi**2)
    for t in range(1, nt):
        e[:, t] = phi * e[:, t - 1] + eps[:, t]
    lpop0 = np.log(330.0) + 0.25 * east - 0.25 * west - 0.15 * neast + 0.45 * big
    lpop0 = lpop0 + 0.55 * rng.standard_normal(n)
    lpop_muni = np.log(1900.0) + 0.35 * rng.standard_normal(n)
    lpop0 = np.clip(np.where(muni == 1, lpop_muni, lpop0), np.log(30.0), np.log(3200.0))
    pop_drift = (0.3 + 0.5 * east + 0.8 * big - 0.5 * neast + 0.4 * rng.standard_normal(n)) / 100
    pop_noise = 0.003 * rng.standard_normal((n, nt))
    lland = np.log(12000.0) + 0.5 * west - 0.25 * east + 0.65 * rng.standard_normal(n)
    land = np.exp(np.clip(lland, np.log(1000.0), np.log(80000.0)))
    city_price = np.cumsum(0.01 * rng.standard_normal((n, nt)), axis=1)
    fe = {k: sd * rng.standard_normal(n)[:, None] for k, (sd, _) in _NOISE.items()}
    ar = {k: _ar1(rng, (n, nt), _NOISE_RHO, sd) for k, (_, sd) in _NOISE.items()}
    u_innov = rng.random((n, nt))
    tools_raw = rng.standard_normal((n, len(POLICY_TOOLS)))

    # ------------------------------------------------------------ untreated world
    lpop = np.clip(
        lpop0[:, None] + np.cumsum(pop_drift[:, None] + pop_noise, axis=1),
        np.log(20.0),
        np.log(3500.0),
    )
    pop = np.exp(lpop)
    dlpop = np.diff(np.concatenate([(lpop0 - pop_drift)[:, None], lpop], axis=1), axis=1)
    mu = nat["mu"]
    g0 = mu[None, :] + kappa[:, None] + (b_nat - 1.0)[:, None] * nat["ncyc"][None, :]
    g0 = np.maximum(g0 + l_reg[:, None] * rcyc[reg_idx] + e, -30.0)
    ystart = nat["d_prev"] + ytil0

    def levels(g: FloatArray) -> FloatArray:
        return ystart[:, None] + np.cumsum(np.log1p(g / 100.0) - dlpop, axis=1)

    y0 = levels(g0)
    ytil_cf = y0 - nat["dpath"][None, :]
    hc = np.exp(
        np.log(100.0) + 0.04 * tt + 0.5 * ytil_cf + 1.3 * (big - muni)[:, None]
        + 0.8 * muni[:, None] + fe["hc"] + ar["hc"]
    )  # fmt: skip
    fin = np.exp(
        np.log(2.0) + 0.03 * tt + 0.25 * ytil_cf + 0.35 * big[:, None] + fe["fin"] + ar["fin"]
    )
    info = 42.0 * _logistic(
        0.25 * (years[None, :] - 2014) + 0.8 * ytil_cf + 0.3 * east[:, None] + fe["info"]
    ) * np.exp(ar["info"])  # fmt: skip
    mis0 = np.exp(np.log(0.3) - 0.3 * ytil_cf + fe["mis"] + ar["mis"])

    # ------------------------------------------------------------ ties (base year, untreated)
    kb = spec.tie_base_year - spec.sim_first_year
    mass = city_mass(pop[:, kb], np.exp(y0[:, kb]) * pop[:, kb] / 1e4, land, rank)
    lon = u["lon"].to_numpy(dtype=float)
    lat = u["lat"].to_numpy(dtype=float)
    iu, ju = np.triu_indices(n, 1)
    f_up = gravity_tie(mass[iu], mass[ju], haversine_km(lon[iu], lat[iu], lon[ju], lat[ju]))
    f = np.zeros((n, n))
    f[iu, ju] = f_up
    f[ju, iu] = f_up
    sorted_f = np.sort(f_up)
    qcut = eff["tie_cutoff_quantile"]
    f_cut = float(np.quantile(sorted_f, qcut))
    pct = np.searchsorted(sorted_f, f, side="right") / sorted_f.size
    w_tilde = np.where(f > f_cut, ((pct - qcut) / (1.0 - qcut)).clip(0.0, 1.0), 0.0)
    w_tilde = w_tilde ** eff["gamma"]
    np.fill_diagonal(w_tilde, 0.0)

    onset_s = onset_years(u, spec)
    never = spec.sim_last_year + 10**6
    onset = onset_s.fillna(never).to_numpy(dtype=np.int64)
    pil = np.flatnonzero(onset <= spec.sim_last_year)

    # ------------------------------------------------------------ policy tools, strength s_p
    z_tools = tools_raw[pil]
    if pil.size > 1:
        z_tools = (z_tools - z_tools.mean(axis=0)) / z_tools.std(axis=0)
    beta = np.array([eff[f"tool_{k}"] for k in POLICY_TOOLS])
    strength = np.maximum(0.0, 1.0 + z_tools @ beta)  # s_p, mean about 1

    # ------------------------------------------------------------ responsiveness h
    het = HETEROGENEITY
    first = int(onset[pil].min()) if pil.size else spec.sim_last_year + 1
    kpre = int(np.clip(first - 1 - spec.sim_first_year, 0, nt - 1))
    lh = np.array([het[r] for r in REGIONS])[reg_idx]
    for name, v in (("human_capital", hc), ("fin_dev", fin), ("info_infra", info)):
        z = np.log(v[:, kpre])
        lh = lh + het[name] * (z - z.mean()) / z.std()
    h = np.exp(lh)
    h = np.clip(h / h.mean(), het["h_min"], het["h_max"])

    # ------------------------------------------------------------ policy
    scen = spec.scenario
    growing = scen == "growing"
    b_pil = buildup(years[None, :] - onset[pil][:, None], growing=growing)  # P x T
    b_pil = b_pil * strength[:, None]  # s_p B(t - T_p)
    b_own = buildup(years[None, :] - onset[:, None], growing=growing)  # N x T
    wj = w_tilde[:, pil]
    omega = wj / np.maximum(1.0, wj.sum(axis=1, keepdims=True))  # N x P
    a = eff["theta_J"] * (h[:, None] * omega)[:, :, None] * b_pil[None, :, :]  # N x P x T
    tot = a.sum(axis=1)
    a = a * np.where(tot > eff["a_max"], eff["a_max"] / np.maximum(tot, 1e-300), 1.0)[:, None]
    e_tot = a.sum(axis=1)  # E_jt
    x_exp = np.minimum(eff["x_max"], np.einsum("jp,pt->jt", h[:, None] * omega, b_pil))
    notyet = years[None, :] < onset[:, None]  # N x T: not designated yet
    nu_raw = w_tilde[pil] * h[None, :] ** 2  # P x N
    nu_t = nu_raw[:, :, None] * notyet[None, :, :]  # P x N x T
    nu_t = nu_t / np.maximum(nu_t.sum(axis=1, keepdims=True), 1e-300)
    hinter = np.einsum("pjt,jt->pt", nu_t, g0)  # H_pt
    a_pil = np.minimum(1.0, eff["theta_P"] * b_pil) * (nu_t.sum(axis=1) > 0)  # A_pt
    pull = np.einsum("jpt,pt->jt", a, g0[pil]) - e_tot * g0  # sum_p a (g_p - g_j)

    if scen == "no_spillover":  # the pilot side only: partners are untouched
        a = np.zeros_like(a)
        e_tot = np.zeros_like(e_tot)
        x_exp = np.zeros_like(x_exp)
        pull = np.zeros_like(pull)
    dg = np.zeros((n, nt))
    if scen in ("radiation", "growing", "no_spillover"):
        dg += pull + eff["delta_R"] * x_exp
        dg[pil] += a_pil * (hinter - g0[pil])
    elif scen == "siphon":
        dg += -pull - eff["delta_S"] * x_exp
        dg[pil] += -a_pil * (hinter - g0[pil]) + eff["delta_P"] * b_pil

    # mechanisms
    ms = MECHANISM_SCALE
    shares = MECHANISM_SHARES[scen]
    lam0 = np.where(years[None, :] >= ms["base_innov_from"], ms["base_innov"], 0.0)
    lam0 = np.broadcast_to(lam0, (n, nt))
    if scen == "none":
        g1, y1, lam1, mis1 = g0, y0, lam0, mis0
    else:
        g1 = g0 + dg
        y1 = levels(g1)
        lam1 = lam0 + ms["pilot_innov"] * b_own
        lam1 = lam1 + ms["c_I"] * shares["inst_innov"] / 0.4 * x_exp
        c_r = ms["c_R"] * shares["misallocation"] / 0.35
        x1 = np.minimum(1.0, x_exp)
        if scen != "siphon":
            mbar = np.einsum("jpt,pt->jt", a, mis0[pil]) / np.maximum(e_tot, 1e-300)
            mis1 = np.where(e_tot > 0, mis0 + min(c_r, 1.0) * x1 * (mbar - mis0), mis0)
        else:
            mis1 = mis0 * (1.0 + 0.5 * c_r * x1)

    def innov(lam: FloatArray) -> NDArray[np.int64]:
        flows = stats.poisson.ppf(u_innov, lam)
        return np.cumsum(flows, axis=1).astype(np.int64)

    # ------------------------------------------------------------ frames
    common = {
        "hc": hc,
        "fin": fin,
        "info": info,
        "pop": pop,
        "land": land,
        "tt": tt,
        "years": years,
        "dpath": nat["dpath"],
        "price": nat["price"][None, :] * np.exp(city_price),
        "wage_nat": nat["wage"],
        "east": east,
        "west": west,
        "big": big,
        "fe": fe,
        "ar": ar,
    }
    cf = _frame(ids, g0, y0, mis0, innov(lam0), common)
    fact = cf.copy() if scen == "none" else _frame(ids, g1, y1, mis1, innov(lam1), common)

    r, c = np.nonzero(omega)
    nu_static = nu_raw / np.maximum(nu_raw.sum(axis=1, keepdims=True), 1e-300)
    weights = pd.DataFrame(
        {
            "pilot_id": ids[pil][c],
            "partner_id": ids[r],
            "omega": omega[r, c],
            "nu": nu_static[c, r],
            "tie_pct": pct[r, pil[c]],
        }
    )
    pw = np.zeros((n, nt))
    pw[pil] = a_pil
    exposure = pd.DataFrame(
        {
            "city_id": np.repeat(ids, nt),
            "year": np.tile(years, n),
            "pilot_weight": pw.ravel(),
            "partner_weight": e_tot.ravel(),
            "exposure": x_exp.ravel(),
        }
    )
    tools = pd.DataFrame(z_tools, columns=list(POLICY_TOOLS))
    tools.insert(0, "city_id", ids[pil])
    tools["strength"] = strength
    meta: dict[str, Any] = true_parameters(world)
    meta.update(
        {
            "onset": {int(ids[k]): int(onset[k]) for k in pil},
            "weights": weights,
            "h": pd.Series(h, index=pd.Index(ids, name="city_id"), name="h"),
            "exposure": exposure,
            "policy_tools": tools,
            "tie_cutoff": f_cut,
        }
    )
    return CityPanel(data=fact, profile="twin", audit=empty_audit(), counterfactual=cf, meta=meta)


def _frame(
    ids: NDArray[np.int64],
    g: FloatArray,
    y: FloatArray,
    mis: FloatArray,
    inst: NDArray[np.int64],
    c: dict[str, Any],
) -> pd.DataFrame:
    """All canonical variables of one world as a long frame (city-major, then year)."""
    fe, ar, tt, years = c["fe"], c["ar"], c["tt"], c["years"]
    east, west, big = c["east"][:, None], c["west"][:, None], c["big"][:, None]
    ytil = y - c["dpath"][None, :]
    gdp_pc = np.exp(y)
    pop = c["pop"]
    gdp = gdp_pc * pop / 1e4  # yuan x 10,000 persons -> 100 million yuan
    gdp_nom = gdp * c["price"]
    gdp_pc_nom = gdp_pc * c["price"]
    fai_ratio = np.exp(
        np.log(0.5) + 0.65 * np.clip(tt / 10.0, 0.0, 1.0) - 0.02 * np.maximum(tt - 12.0, 0.0)
        + 0.15 * west - 0.1 * ytil + fe["fai"] + ar["fai"]
    )  # fmt: skip
    serv = 100.0 * _logistic(-0.35 + 0.02 * tt + 0.35 * ytil + 0.25 * big + fe["serv"] + ar["serv"])
    q_prim = _logistic(
        -2.1 - 0.45 * ytil - 0.015 * tt + 0.2 * west - 0.8 * big + fe["prim"] + ar["prim"]
    )
    secondary = (100.0 - serv) * (1.0 - q_prim)
    fdi_trend = 0.04 * np.minimum(tt, 8.0) + 0.01 * np.maximum(tt - 8.0, 0.0)
    fdi = np.exp(
        np.log(60.0) + fdi_trend + 1.6 * ytil + 0.6 * east + 0.5 * big + fe["fdi"] + ar["fdi"]
    )
    io = gdp_nom * secondary / 100.0 * np.exp(np.log(3.3) + fe["io"] + ar["io"])
    retail = gdp_pc_nom * np.exp(
        np.log(0.36) + 0.005 * tt - 0.15 * ytil + 0.1 * big + fe["retail"] + ar["retail"]
    )
    savings = gdp_pc_nom * np.exp(
        np.log(0.65) + 0.01 * tt - 0.05 * ytil + 0.1 * big + fe["sav"] + ar["sav"]
    )
    wage = c["wage_nat"][None, :] * np.exp(
        0.25 * ytil + 0.15 * big + 0.05 * east + fe["wage"] + ar["wage"]
    )
    n, nt = y.shape
    grids: dict[str, Any] = {
        "gdp_pc": gdp_pc,
        "gdp_growth": g,
        "fai_pc": fai_ratio * gdp_pc_nom,
        "service_share": serv,
        "fdi_pc": fdi,
        "industrial_output": io,
        "retail_pc": retail,
        "savings_pc": savings,
        "wage": wage,
        "pop": pop,
        "land_area": np.broadcast_to(c["land"][:, None], (n, nt)),
        "gdp": gdp,
        "gdp_nominal": gdp_nom,
        "secondary_share": secondary,
        "human_capital": c["hc"],
        "fin_dev": c["fin"],
        "info_infra": c["info"],
        "inst_innov": inst,
        "misallocation": mis,
    }
    missing = [v for v in VARIABLES if v not in grids]
    if missing:  # pragma: no cover - guards the schema against a new canonical variable
        raise RuntimeError(f"twin frame lacks canonical variables {missing}")
    cols = {"city_id": np.repeat(ids, nt), "year": np.tile(years.astype(np.int64), n)}
    cols.update({k: np.ascontiguousarray(grids[k]).ravel() for k in VARIABLES})
    return pd.DataFrame(cols)


def true_parameters(world: World | Spec | None = None) -> dict[str, Any]:
    """The twin's true parameters for ``world`` (what :attr:`CityPanel.meta` records).

    A :class:`~cbec.spec.Spec` is accepted and stands for its world (:meth:`World.from_spec`).

    Returns a dict with ``scenario``, ``seed``, ``active`` (False for ``"none"``),
    ``effect`` (:data:`EFFECT` with the world's overrides; ``tool_supply``,
    ``tool_environment`` and ``tool_demand`` are the coefficients :math:`\\beta_k` of the
    policy strength on the tool intensities), ``policy_tools`` names (:data:`POLICY_TOOLS`),
    ``buildup`` (B for k = 0, 1, 2+; under ``"growing"`` it keeps rising by 1/3 a year),
    ``heterogeneity`` (:data:`HETEROGENEITY`), ``mechanism_shares`` (of the scenario),
    ``mechanism_scale``, ``world`` (the :class:`World`'s fields) and a one-line
    ``description``.
    """
    if world is None:
        world = World()
    elif isinstance(world, Spec):
        world = World.from_spec(world)
    scen = world.scenario
    desc = {
        "radiation": "pilots and their tied partners move toward each other's growth",
        "growing": "radiation whose effect keeps growing with the years since designation",
        "no_spillover": "radiation on the pilot side only; partners and control pairs untouched",
        "siphon": "pilots pull away from their tied partners and drain their growth",
        "none": "the policy has no effect; the factual panel equals the counterfactual",
    }[scen]
    return {
        "scenario": scen,
        "seed": world.seed,
        "active": scen != "none",
        "effect": world.effects(),
        "policy_tools": POLICY_TOOLS,
        "buildup": (*BUILDUP, 1.0),
        "heterogeneity": dict(HETEROGENEITY),
        "mechanism_shares": dict(MECHANISM_SHARES[scen]),
        "mechanism_scale": dict(MECHANISM_SCALE),
        "world": dataclasses.asdict(world),
        "description": (
            f"Synthetic twin (seed {world.seed}, {world.sim_first_year}-{world.sim_last_year}), "
            f"scenario '{scen}': {desc}."
        ),
    }
