"""The random-pilot placebo (permutation) test of the pair-year DID.

:func:`placebo_did` and :func:`placebo_naive`
    The placebo test reassigns the real pilots' treatment years to randomly chosen cities
    and re-estimates the DID coefficient many times; the share of placebo coefficients at
    least as large in absolute value as the real one is a permutation p-value (the
    randomization-inference logic of Fisher 1935; Rosenbaum 2002). The fast engine uses the
    Frisch-Waugh-Lovell theorem (Frisch & Waugh 1933; Lovell 1963): outcome and controls
    are within-transformed once, and each draw only transforms its pseudo-treatment
    column, either as an ``(n, B)`` block of draws or, on a balanced pair x year panel,
    analytically from per-pair cumulative sums. The naive engine refits pyfixest's
    ``feols`` for every draw and is the reference the fast one is tested against.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.estimators.fe import FEIndex, fit_fe

# --------------------------------------------------------------------------- placebo


@dataclass
class PlaceboResult:
    """Outcome of a placebo (random pilot reassignment) test.

    Attributes
    ----------
    draws
        ``(n_draws,)`` placebo DID coefficients (``NaN`` for a draw whose pseudo treatment
        has no within variation).
    actual
        The DID coefficient with the real treatment.
    p_value
        Two-sided permutation p-value ``(1 + #{|b_draw| >= |b_actual|}) / (1 + n_valid)``
        (Phipson & Smyth 2010 add the one so that it is never zero).
    seed, n_draws, method
        Seed of :func:`numpy.random.default_rng`, number of draws, engine used.
    n_valid
        Draws with a finite coefficient.
    real_share
        Mean share of pseudo pilots that are real pilots (:func:`placebo_stratified`; NaN
        otherwise). Near one, the placebo mostly reshuffles the real pilots' years.
    """

    draws: np.ndarray
    actual: float
    p_value: float
    seed: int
    n_draws: int
    method: str
    n_valid: int = 0
    real_share: float = float("nan")

    def summary(self) -> pd.Series:
        """Actual coefficient, p-value and the quantiles of the placebo distribution."""
        d = self.draws[np.isfinite(self.draws)]
        q = np.quantile(d, [0.025, 0.5, 0.975]) if d.size else [np.nan] * 3
        return pd.Series(
            {
                "actual": self.actual,
                "p_value": self.p_value,
                "n_draws": self.n_draws,
                "n_valid": self.n_valid,
                "mean": d.mean() if d.size else np.nan,
                "sd": d.std(ddof=1) if d.size > 1 else np.nan,
                "q025": q[0],
                "median": q[1],
                "q975": q[2],
                "seed": self.seed,
                "method": self.method,
            }
        )


def permutation_p_value(draws: np.ndarray, actual: float) -> tuple[float, int]:
    """Two-sided p-value ``(1 + #{|b| >= |actual|}) / (1 + n_valid)`` over finite draws."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if not np.isfinite(actual):
        return float("nan"), int(d.size)
    hits = int(np.count_nonzero(np.abs(d) >= abs(actual)))
    return (1.0 + hits) / (1.0 + d.size), int(d.size)


@dataclass(frozen=True)
class PlaceboDesign:
    """What every placebo draw needs, validated once (see :func:`placebo_design`).

    Attributes
    ----------
    city_i, city_j
        ``(n,)`` positions of each row's two cities in the sorted city universe.
    year
        ``(n,)`` year of each row (float).
    pilot_years
        ``(n_pilots,)`` the real pilots' treatment years, in the order of ``pilots``.
    n_cities
        Size of the universe.
    """

    city_i: np.ndarray  # (n,) universe index of city_i of each row
    city_j: np.ndarray  # (n,) universe index of city_j
    year: np.ndarray  # (n,) float
    pilot_years: np.ndarray  # (n_pilots,) float
    n_cities: int


def placebo_design(df: pd.DataFrame, pilots: pd.DataFrame, cities: np.ndarray) -> PlaceboDesign:
    """Validate the pilots and the universe and map each row's cities into the universe.

    Raises ``ValueError`` when a pilot or a city of ``df`` is outside the universe, a pilot
    is listed twice or lacks a year, or a ``pair_id`` has more than one city combination.
    """
    for c in ("city_i", "city_j", "year", "pair_id"):
        if c not in df.columns:
            raise KeyError(f"the pair panel lacks column {c!r}")
    if not isinstance(pilots, pd.DataFrame) or not {"city_id", "treat_year"} <= set(pilots.columns):
        raise ValueError("pilots must be a DataFrame with columns city_id and treat_year")
    universe = np.asarray(cities).ravel()
    if universe.size == 0:
        raise ValueError("the city universe is empty")
    if np.unique(universe).size != universe.size:
        raise ValueError("the city universe lists a city twice")
    uni_sorted = np.sort(universe)
    p_city = pilots["city_id"].to_numpy()
    p_year = pilots["treat_year"].to_numpy(dtype=float)
    if p_city.size == 0:
        raise ValueError("pilots is empty")
    if pd.Series(p_city).duplicated().any():
        raise ValueError("pilots lists a city twice")
    if not np.isfinite(p_year).all():
        raise ValueError("every pilot needs a finite treat_year")
    not_in = np.setdiff1d(p_city, uni_sorted)
    if not_in.size:
        raise ValueError(f"{not_in.size} pilot cities are not in the universe, e.g. {not_in[:5]}")
    if p_city.size > universe.size:
        raise ValueError("more pilots than cities in the universe")

    def locate(col: str) -> np.ndarray:
        v = df[col].to_numpy()
        pos = np.searchsorted(uni_sorted, v)
        pos = np.clip(pos, 0, uni_sorted.size - 1)
        bad = uni_sorted[pos] != v
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} rows have a {col} outside the city universe, e.g. "
                f"{np.unique(v[bad])[:5]}"
            )
        return pos.astype(np.int64)

    ci, cj = locate("city_i"), locate("city_j")
    if (ci == cj).any():
        raise ValueError("some rows pair a city with itself")
    per_pair = df.groupby("pair_id")[["city_i", "city_j"]].nunique().max()
    if (per_pair > 1).any():
        raise ValueError("a pair_id has more than one (city_i, city_j) combination")
    return PlaceboDesign(
        city_i=ci,
        city_j=cj,
        year=df["year"].to_numpy(dtype=float),
        pilot_years=p_year,
        n_cities=int(universe.size),
    )


def draw_pseudo_pilots(seed: int, n_draws: int, n_cities: int, n_pilots: int) -> np.ndarray:
    """Random pilot sets: ``(n_draws, n_pilots)`` indices into the city universe.

    Row ``b`` is the first ``n_pilots`` entries of a uniform random permutation of the
    universe, so draw ``b``'s ``p``-th city receives the ``p``-th real pilot's treatment
    year: a random set of cities of the real size with the real years permuted among them.
    Draws depend only on ``seed`` (not on block sizes or the engine).
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    if not 0 < n_pilots <= n_cities:
        raise ValueError(f"need 0 < n_pilots <= n_cities, got {n_pilots} and {n_cities}")
    rng = np.random.default_rng(seed)
    base = np.broadcast_to(np.arange(n_cities), (n_draws, n_cities))
    return rng.permuted(base, axis=1)[:, :n_pilots]


def _pseudo_years(design: PlaceboDesign, chosen: np.ndarray) -> np.ndarray:
    """City-by-draw matrix of pseudo treatment years (``inf`` for non-pilots)."""
    b = chosen.shape[0]
    yr = np.full((design.n_cities, b), np.inf)
    yr[chosen.T, np.arange(b)[None, :]] = design.pilot_years[:, None]
    return yr


def pseudo_did(design: PlaceboDesign, chosen: np.ndarray) -> np.ndarray:
    """Pseudo DID columns ``(n, B)`` for a block of draws.

    A pair-year is treated when at least one of its cities is a pseudo pilot and the year
    is at or after its pseudo year; when both cities are pseudo pilots (possible because
    pseudo pilots are drawn from the whole universe while the sample has no real
    pilot-pilot pairs), the earlier of the two years counts.
    """
    yr = _pseudo_years(design, chosen)
    start = np.minimum(np.take(yr, design.city_i, axis=0), np.take(yr, design.city_j, axis=0))
    return (design.year[:, None] >= start).astype(np.float64)


def _checked_values(df: pd.DataFrame, cols: list[str], fe: Sequence[str]) -> np.ndarray:
    """``df[cols]`` as float64 after checking that every column exists and is finite."""
    missing = [c for c in [*cols, *fe] if c not in df.columns]
    if missing:
        raise KeyError(f"columns missing from the pair panel: {missing}")
    if len(set(cols)) != len(cols):
        raise ValueError(f"outcome, treatment and controls must be distinct: {cols}")
    values = df[cols].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad = [c for c, ok in zip(cols, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise ValueError(f"missing or infinite values in {bad}; drop these rows explicitly")
    if df[list(fe)].isna().any().any():
        raise ValueError(f"missing values in the fixed-effect columns {list(fe)}")
    return values


def _prepare_fwl(
    df: pd.DataFrame,
    y: str,
    treat: str,
    controls: Sequence[str],
    fe: Sequence[str],
) -> tuple[FEIndex, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Demean outcome, treatment and controls once; residualise y on the controls.

    Returns ``(fe_index, y_r, d_dm, z_dm, ztz_inv)`` with rows in frame order.
    """
    cols = [y, treat, *controls]
    values = _checked_values(df, cols, fe)
    fei = FEIndex.from_frame(df, fe)
    dm = fei.demean(values)
    y_dm, d_dm, z_dm = dm[:, 0], dm[:, 1], dm[:, 2:]
    if z_dm.shape[1]:
        ztz = z_dm.T @ z_dm
        if np.linalg.matrix_rank(ztz) < ztz.shape[0]:
            raise ValueError(f"the controls {list(controls)} are collinear after the fixed effects")
        ztz_inv = np.linalg.inv(ztz)
        y_r = y_dm - z_dm @ (ztz_inv @ (z_dm.T @ y_dm))
        return fei, y_r, d_dm, z_dm, ztz_inv
    return fei, y_dm, d_dm, z_dm, None


def _fwl_coef(
    d_dm: np.ndarray, y_r: np.ndarray, z_dm: np.ndarray, ztz_inv: np.ndarray | None
) -> np.ndarray:
    """DID coefficients of demeaned treatment columns ``d_dm`` (n, B) by FWL.

    ``b = d~'y_r / d~'d~`` with ``d~ = d_dm - Z (Z'Z)^-1 Z'd_dm``; since ``y_r`` is
    orthogonal to ``Z``, ``d~'y_r = d_dm'y_r`` and ``d~'d~ = d_dm'd_dm - c'(Z'Z)^-1 c`` with
    ``c = Z'd_dm``.
    """
    num = y_r @ d_dm
    den = np.einsum("ib,ib->b", d_dm, d_dm)
    if ztz_inv is not None:
        c = np.ascontiguousarray(z_dm.T) @ d_dm  # a contiguous left operand keeps BLAS fast
        den = den - np.einsum("qb,qb->b", c, ztz_inv @ c)
    scale = d_dm.shape[0]
    out = np.full(num.shape, np.nan)
    ok = den > 1e-10 * scale
    out[ok] = num[ok] / den[ok]
    return out


class _Progress:
    """One compact line per 10% of draws, printed to stdout (no tqdm)."""

    def __init__(self, total: int, label: str, on: bool) -> None:
        self.total, self.label, self.on = total, label, on
        self.last, self.t0 = 0, time.perf_counter()

    def update(self, done: int) -> None:
        if not self.on:
            return
        decile = (10 * done) // self.total
        if decile > self.last:
            self.last = decile
            dt = time.perf_counter() - self.t0
            print(
                f"{self.label}: {done}/{self.total} draws ({10 * decile}%), {dt:.1f} s", flush=True
            )


class _PairStepSums:
    """Closed-form FWL for step-shaped treatments on a balanced pair x year panel.

    A pseudo DID column is a step within each pair: ``D[p, t] = 1[year_t >= s_p]`` with
    ``s_p`` the pair's pseudo start year (``inf`` if untreated). With ``k_p`` the index of
    the first year at or after ``s_p`` and ``n_p = T - k_p`` its treated years, the
    closed-form within transformation ``D - row mean - column mean + grand mean`` gives,
    without building the ``(n, B)`` matrix,

    * ``D_dm'y_r = D'y_r = sum_p R_p[k_p]``, ``R_p`` the reverse cumulative sum of the
      pair's ``y_r`` over years (``y_r`` is already demeaned, so demeaning ``D`` is not
      needed for this product); the same for each demeaned control (``Z'D_dm``);
    * ``||D_dm||^2 = sum_p n_p - sum_p n_p^2 / T - sum_t m_t^2 / P + (sum_p n_p)^2 / n``,
      ``m_t`` the number of pairs treated in year ``t`` (the Pythagorean identity of the
      three commuting projections of a balanced two-way layout).

    Each draw then costs ``O(P (q + 1))`` instead of ``O(n)`` passes over an ``(n, B)``
    block.
    """

    def __init__(
        self, fei: FEIndex, design: PlaceboDesign, y_r: np.ndarray, z_dm: np.ndarray
    ) -> None:
        n_pair, n_year = fei.sizes
        order = fei.order

        def grid(v: np.ndarray) -> np.ndarray:
            return v[order].reshape(n_pair, n_year)

        def rev_cumsum(g: np.ndarray) -> np.ndarray:
            out = np.zeros((n_pair, n_year + 1))
            out[:, :n_year] = np.cumsum(g[:, ::-1], axis=1)[:, ::-1]
            return out

        years = grid(design.year)
        if not (years == years[0]).all() or not (np.diff(years[0]) > 0).all():
            raise ValueError("the pair x year grid does not have the same sorted years per pair")
        ci, cj = grid(design.city_i), grid(design.city_j)
        if not ((ci == ci[:, :1]).all() and (cj == cj[:, :1]).all()):
            raise ValueError("a pair_id has more than one (city_i, city_j) combination")
        self.years = years[0]
        self.ci, self.cj = ci[:, 0], cj[:, 0]
        self.y_rc = rev_cumsum(grid(y_r))
        self.z_rc = [rev_cumsum(grid(z_dm[:, q])) for q in range(z_dm.shape[1])]
        self.n_pair, self.n_year, self.n = n_pair, n_year, n_pair * n_year
        self.design = design

    def coef(self, chosen: np.ndarray, ztz_inv: np.ndarray | None) -> np.ndarray:
        """DID coefficients of a block of draws ``chosen`` (B, n_pilots)."""
        b = chosen.shape[0]
        yr = _pseudo_years(self.design, chosen)
        start = np.minimum(yr[self.ci], yr[self.cj])  # (P, B)
        k = np.searchsorted(self.years, start.ravel(), side="left").reshape(start.shape)
        n_treated = (self.n_year - k).astype(np.float64)
        num = np.take_along_axis(self.y_rc, k, axis=1).sum(axis=0)
        flat = (k + (self.n_year + 1) * np.arange(b)[None, :]).ravel()
        hist = np.bincount(flat, minlength=(self.n_year + 1) * b).reshape(b, self.n_year + 1)
        per_year = np.cumsum(hist[:, : self.n_year], axis=1).astype(np.float64)  # (B, T)
        tot = n_treated.sum(axis=0)
        den = (
            tot
            - (n_treated**2).sum(axis=0) / self.n_year
            - (per_year**2).sum(axis=1) / self.n_pair
            + tot**2 / self.n
        )
        if ztz_inv is not None:
            c = np.stack([np.take_along_axis(z, k, axis=1).sum(axis=0) for z in self.z_rc])
            den = den - np.einsum("qb,qb->b", c, ztz_inv @ c)
        out = np.full(b, np.nan)
        ok = den > 1e-10 * self.n
        out[ok] = num[ok] / den[ok]
        return out


#: Engines of :func:`placebo_did`.
PLACEBO_ENGINES: tuple[str, ...] = ("auto", "pairsum", "block")


def placebo_did(
    df: pd.DataFrame,
    y: str,
    controls: Sequence[str],
    n_draws: int,
    seed: int,
    *,
    pilots: pd.DataFrame,
    cities: np.ndarray,
    fe: Sequence[str] = ("pair_id", "year"),
    treat: str = "did",
    engine: str = "auto",
    block_size: int | None = None,
    progress: bool = True,
) -> PlaceboResult:
    """Placebo test with random pilots, fast engine (Frisch-Waugh-Lovell).

    Each draw gives the real pilots' treatment years to a random set of the same number
    of universe cities (:func:`draw_pseudo_pilots`), rebuilds the pseudo DID of every
    pair-year (:func:`pseudo_did`; the earlier year when both cities are pseudo pilots)
    and re-estimates the DID coefficient of ``y ~ pseudo_did + controls | fe``. The pairs
    in the sample stay the same in every draw.

    By FWL the outcome and the controls are within-transformed once and ``y`` is
    residualised on the demeaned controls once; per draw only the pseudo DID is
    within-transformed and the demeaned controls projected out of it (:func:`_fwl_coef`).
    Two engines do this:

    ``"block"``
        A block of ``B`` draws is an ``(n, B)`` matrix of pseudo DID columns, demeaned by
        the closed form ``x - pair mean - year mean + grand mean`` when the panel is
        balanced (pyfixest's alternating projections otherwise).
    ``"pairsum"``
        The same closed form evaluated analytically at the pair level
        (:class:`_PairStepSums`): ``O(P)`` work per draw. Needs a balanced panel with
        ``fe=("pair_id", "year")``.

    ``"auto"`` (default) takes ``"pairsum"`` when it applies, else ``"block"``.

    Parameters
    ----------
    df
        Pair-year panel with ``pair_id, city_i, city_j, year``, ``treat``, ``y`` and the
        controls.
    y, controls, treat
        Outcome, controls, and the real treatment column (for the actual coefficient).
    n_draws, seed
        Number of draws and seed of :func:`numpy.random.default_rng`.
    pilots
        The real pilots: ``city_id, treat_year``.
    cities
        Universe of city ids from which pseudo pilots are drawn; must contain every city
        of ``df`` and every pilot.
    fe
        Fixed effects (default pair and year).
    engine
        One of :data:`PLACEBO_ENGINES`.
    block_size
        Draws per block; the default keeps one block's working arrays near 32-64 MB.
    progress
        Print one line per 10% of draws.
    """
    if engine not in PLACEBO_ENGINES:
        raise ValueError(f"engine must be one of {PLACEBO_ENGINES}, got {engine!r}")
    design = placebo_design(df, pilots, cities)
    chosen = draw_pseudo_pilots(seed, n_draws, design.n_cities, design.pilot_years.size)
    fei, y_r, d_dm, z_dm, ztz_inv = _prepare_fwl(df, y, treat, controls, fe)
    actual = float(_fwl_coef(d_dm[:, None], y_r, z_dm, ztz_inv)[0])

    pair_year = fei.balanced and tuple(fe) == ("pair_id", "year")
    if engine == "pairsum" and not pair_year:
        raise ValueError("engine='pairsum' needs a balanced panel with fe=('pair_id', 'year')")
    use_pairsum = engine == "pairsum" or (engine == "auto" and pair_year)

    n = fei.n
    if use_pairsum:
        sums = _PairStepSums(fei, design, y_r, z_dm)
        method = "fwl-pair-closed-form"
        default_block = (1 << 22) // fei.sizes[0]
    elif fei.balanced:
        # lay every row-array out as the (S0, S1) grid once; blocks then reshape for free
        order = fei.order
        design = PlaceboDesign(
            city_i=design.city_i[order],
            city_j=design.city_j[order],
            year=design.year[order],
            pilot_years=design.pilot_years,
            n_cities=design.n_cities,
        )
        y_r, z_dm = y_r[order], z_dm[order]
        method = "fwl-block-closed-form"
        default_block = (1 << 23) // n
    else:
        method = "fwl-block-alternating-projections"
        default_block = (1 << 23) // n
    if block_size is None:
        # at least ten blocks when progress is shown, so that every 10% gets its line
        block_size = min(default_block, -(-n_draws // 10)) if progress else default_block
    block_size = max(1, min(n_draws, int(block_size)))

    draws = np.empty(n_draws)
    bar = _Progress(n_draws, "placebo", progress)
    for start in range(0, n_draws, block_size):
        blk = chosen[start : start + block_size]
        if use_pairsum:
            coef = sums.coef(blk, ztz_inv)
        else:
            d = pseudo_did(design, blk)
            if fei.balanced:
                grid = d.reshape(fei.sizes[0], fei.sizes[1], -1)
                d = FEIndex.demean_grid(grid).reshape(n, -1)
            else:
                d = fei.demean(d, method="alternating")
            coef = _fwl_coef(d, y_r, z_dm, ztz_inv)
        draws[start : start + blk.shape[0]] = coef
        bar.update(start + blk.shape[0])
    p, n_valid = permutation_p_value(draws, actual)
    return PlaceboResult(draws, actual, p, int(seed), int(n_draws), method, n_valid)


def placebo_naive(
    df: pd.DataFrame,
    y: str,
    controls: Sequence[str],
    n_draws: int,
    seed: int,
    *,
    pilots: pd.DataFrame,
    cities: np.ndarray,
    fe: Sequence[str] = ("pair_id", "year"),
    treat: str = "did",
    progress: bool = False,
    fixef_tol: float = 1e-10,
) -> PlaceboResult:
    """Reference placebo engine: one pyfixest ``feols`` fit per draw.

    Uses exactly the draws of :func:`placebo_did` for the same ``seed`` (both call
    :func:`draw_pseudo_pilots` and :func:`pseudo_did`). Slow; for tests and benchmarks.
    """
    design = placebo_design(df, pilots, cities)
    chosen = draw_pseudo_pilots(seed, n_draws, design.n_cities, design.pilot_years.size)
    name = "_placebo_did"
    if name in df.columns:
        raise ValueError(f"df must not have a column named {name!r}")
    _checked_values(df, [y, treat, *controls], fe)
    cols = list(dict.fromkeys([y, treat, *controls, *fe]))
    data = df[cols].copy()

    def coef_of(col: str, frame: pd.DataFrame) -> float:
        # the package's one fixed-effects path (cbec.estimators.fe.fit_fe)
        fit = fit_fe(
            frame, y, [col, *controls], fe, "iid", fixef_tol=fixef_tol,
            caller="placebo_naive", allow_collinear=True,
        )  # fmt: skip
        return float(fit.coef[col]) if col in fit.coef.index else np.nan

    actual = coef_of(treat, data)
    draws = np.empty(n_draws)
    bar = _Progress(n_draws, "placebo (naive)", progress)
    for b in range(n_draws):
        d = pseudo_did(design, chosen[b : b + 1])[:, 0]
        draws[b] = coef_of(name, data.assign(**{name: d}))
        bar.update(b + 1)
    p, n_valid = permutation_p_value(draws, actual)
    return PlaceboResult(draws, actual, p, int(seed), int(n_draws), "pyfixest-feols", n_valid)


# ------------------------------------------------------------- stratified placebo
def draw_stratified_pilots(
    seed: int, n_draws: int, strata: np.ndarray, pilot_strata: np.ndarray
) -> np.ndarray:
    """Pseudo pilots drawn within strata: ``(n_draws, n_pilots)`` indices into the universe.

    Pilot ``p`` (stratum ``pilot_strata[p]``) hands its designation year to a city drawn
    without replacement from the cities of the same stratum (``strata``, one code per
    universe city), so every draw has the real number of pilots in every stratum.
    """
    strata = np.asarray(strata)
    pilot_strata = np.asarray(pilot_strata)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    rng = np.random.default_rng(seed)
    out = np.empty((n_draws, pilot_strata.size), dtype=np.int64)
    for s in np.unique(pilot_strata):
        slots = np.nonzero(pilot_strata == s)[0]
        members = np.nonzero(strata == s)[0]
        if members.size < slots.size:
            raise ValueError(f"stratum {s!r} has {members.size} cities for {slots.size} pilots")
        base = np.broadcast_to(members, (n_draws, members.size))
        out[:, slots] = rng.permuted(base, axis=1)[:, : slots.size]
    return out


def placebo_stratified(
    df: pd.DataFrame,
    y: str,
    controls: Sequence[str],
    n_draws: int,
    seed: int,
    *,
    pilots: pd.DataFrame,
    universe: pd.DataFrame,
    strata: Sequence[str] = ("admin_rank", "region4"),
    treat: str = "did",
) -> PlaceboResult:
    """Placebo with pseudo pilots drawn within strata, pseudo pilot-pilot pairs dropped.

    The real pilots differ from other cities: most are provincial capitals or higher, and
    many are eastern. Drawing pseudo pilots uniformly compares them with a different kind of
    city; this placebo draws them within the strata (default administrative rank x region,
    the pilots' stratum counts kept) and, as the real design excludes pilot-pilot pairs,
    drops every pair whose two cities are both pseudo pilots from that draw's regression.

    Each draw's coefficient is the two-way (pair, year) fixed-effects DID with controls on
    the kept pairs, computed exactly by FWL on the balanced pair x year grid: pair means do
    not depend on which pairs are kept, year means are recomputed over the kept pairs, and
    the controls are partialled out through the kept-pair Gram matrices. Needs a balanced
    panel. ``tests/test_placebo_stratified.py`` checks draws against pyfixest.
    """
    fe = ("pair_id", "year")
    cols = [y, treat, *controls]
    values = _checked_values(df, cols, fe)
    fei = FEIndex.from_frame(df, fe)
    if not fei.balanced:
        raise ValueError("placebo_stratified needs a balanced pair x year panel")
    u = universe.sort_values("city_id").reset_index(drop=True)
    missing = [c for c in strata if c not in u.columns]
    if missing:
        raise KeyError(f"universe lacks strata columns {missing}")
    design = placebo_design(df, pilots, u["city_id"].to_numpy())
    code = pd.factorize(pd.MultiIndex.from_frame(u[list(strata)].astype(str)))[0]
    pos = np.searchsorted(u["city_id"].to_numpy(), pilots["city_id"].to_numpy())
    chosen = draw_stratified_pilots(seed, n_draws, code, code[pos])

    P, T = fei.sizes
    order = fei.order
    grid = values[order].reshape(P, T, -1)  # y, treat, controls
    dot = grid - grid.mean(axis=1, keepdims=True)  # pair-demeaned: does not depend on keep
    W = np.ascontiguousarray(np.concatenate([dot[:, :, :1], dot[:, :, 2:]], axis=2))
    K = W.shape[2]
    W_pt = W.reshape(P * T, K)
    W_p = W.reshape(P, T * K)
    S_ww = np.einsum("ptk,ptl->pkl", W, W).reshape(P, K * K)  # per-pair cross products
    sum_w = W_p.sum(axis=0)  # over all pairs, (T*K,)
    sum_ww = S_ww.sum(axis=0)
    ci = design.city_i[order].reshape(P, T)[:, 0]
    cj = design.city_j[order].reshape(P, T)[:, 0]
    years = design.year[order].reshape(P, T)[0]

    def coef(d_grid: np.ndarray, drop: np.ndarray) -> float:
        # kept-pair sums = all-pair sums minus the (few) dropped pairs
        dd = d_grid - d_grid.mean(axis=1, keepdims=True)
        if drop.size:
            dd[drop] = 0.0
        nk = P - drop.size
        m_w = (sum_w - W_p[drop].sum(axis=0)).reshape(T, K) / nk
        g_ww = (sum_ww - S_ww[drop].sum(axis=0)).reshape(K, K) - nk * m_w.T @ m_w
        m_d = dd.sum(axis=0) / nk
        g_dw = np.einsum("i,ik->k", dd.reshape(-1), W_pt) - nk * m_d @ m_w
        g_dd = float((dd * dd).sum() - nk * m_d @ m_d)
        if K > 1:
            zd = g_dw[1:]
            sol = np.linalg.solve(g_ww[1:, 1:], np.column_stack([g_ww[1:, 0], zd]))
            num = g_dw[0] - zd @ sol[:, 0]
            den = g_dd - zd @ sol[:, 1]
        else:
            num, den = g_dw[0], g_dd
        return float(num / den) if den > 1e-10 * nk * T else float("nan")

    none = np.zeros(0, dtype=np.int64)
    actual = coef(grid[:, :, 1].copy(), none)
    draws = np.empty(n_draws)
    for b in range(n_draws):
        yr = np.full(design.n_cities, np.inf)
        yr[chosen[b]] = design.pilot_years
        si, sj = yr[ci], yr[cj]
        drop = np.nonzero(np.isfinite(si) & np.isfinite(sj))[0]
        start = np.minimum(si, sj)
        d_grid = (years[None, :] >= start[:, None]).astype(float)
        draws[b] = coef(d_grid, drop)
    p, n_valid = permutation_p_value(draws, actual)
    real = np.isin(u["city_id"].to_numpy()[chosen], pilots["city_id"].to_numpy())
    return PlaceboResult(draws, actual, p, int(seed), int(n_draws), "stratified-fwl", n_valid,
                         real_share=float(real.mean()))  # fmt: skip


# ------------------------------------------------------------------ null rejection
#: Clusterings compared by :func:`null_rejection`.
NULL_VCOVS = ("pair", "pilot_city", "twoway", "dyadic")


def null_rejection(
    df: pd.DataFrame,
    y: str,
    n_draws: int,
    seed: int,
    *,
    pilots: pd.DataFrame,
    cities: np.ndarray,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """How often each clustering rejects a true null: random pilots on a fixed outcome.

    Each draw gives the real designation years to random cities (:func:`draw_pseudo_pilots`),
    so the pseudo treatment has no effect on ``y`` by construction, and fits
    ``y ~ pseudo_did | pair + year``. Its t statistic is formed with four standard errors
    computed from the same scores ``s = d~ e``: clustered by pair, by the (pseudo) pilot
    city (``city_i`` for a pair without one), two-way by ``city_i`` and ``city_j``
    (Cameron, Gelbach & Miller 2011) and dyadic-robust (the meat of
    :func:`cbec.estimators.variance.dyadic_vcov`, ``sum_c S_c^2 - sum_pair S_pair^2``), each
    with the factor ``G/(G-1)`` and no ``(N-1)/(N-k)``; scores are summed per pair first,
    so every clustering costs ``O(pairs)`` per draw. Needs a balanced panel.

    Returns one row per clustering: ``vcov, rejection`` (share of draws with
    ``|t| > z_{1-alpha/2}``), ``mean_se``, ``sd_draws`` (the spread of the coefficient
    across draws, which the standard errors should match) and ``ratio = mean_se/sd_draws``.
    """
    from scipy import stats

    design = placebo_design(df, pilots, cities)
    chosen = draw_pseudo_pilots(seed, n_draws, design.n_cities, design.pilot_years.size)
    fei, y_r, _, _, _ = _prepare_fwl(df, y, "did", (), ("pair_id", "year"))
    if not fei.balanced:
        raise ValueError("null_rejection needs a balanced pair x year panel")
    P, T = fei.sizes
    order = fei.order
    yg = y_r[order].reshape(P, T)
    ci = design.city_i[order].reshape(P, T)[:, 0]
    cj = design.city_j[order].reshape(P, T)[:, 0]
    years = design.year[order].reshape(P, T)[0]
    G = design.n_cities
    n_cities = int(np.unique(np.concatenate([ci, cj])).size)
    crit = stats.norm.ppf(1 - alpha / 2)
    out = {v: ([], []) for v in NULL_VCOVS}
    coefs = []

    def meat(codes: np.ndarray, sp: np.ndarray) -> tuple[float, int]:
        sums = np.bincount(codes, weights=sp, minlength=G)
        return float(sums @ sums), int(np.unique(codes).size)

    for b in range(n_draws):
        yr = _pseudo_years(design, chosen[b : b + 1])[:, 0]
        start = np.minimum(yr[ci], yr[cj])
        d = (years[None, :] >= start[:, None]).astype(float)
        dd = FEIndex.demean_grid(d[:, :, None])[:, :, 0]
        den = float((dd * dd).sum())
        if den <= 1e-10:
            continue
        beta = float((dd * yg).sum()) / den
        sp = (dd * (yg - beta * dd)).sum(axis=1)  # score sums per pair
        m_pair = float(sp @ sp)
        pilot = np.where(np.isfinite(yr[ci]), ci, np.where(np.isfinite(yr[cj]), cj, ci))
        m_pil, g_pil = meat(pilot, sp)
        m_i, g_i = meat(ci, sp)
        m_j, g_j = meat(cj, sp)
        both = np.bincount(ci, weights=sp, minlength=G) + np.bincount(cj, weights=sp, minlength=G)
        f = lambda g: g / (g - 1.0)  # noqa: E731
        var = {
            "pair": m_pair * f(P),
            "pilot_city": m_pil * f(g_pil),
            "twoway": (m_i + m_j - m_pair) * f(min(g_i, g_j)),
            "dyadic": (float(both @ both) - m_pair) * f(n_cities),
        }
        coefs.append(beta)
        for v in NULL_VCOVS:
            se = np.sqrt(max(var[v], 0.0)) / den
            out[v][0].append(se)
            out[v][1].append(bool(se > 0 and abs(beta) / se > crit))
    sd = float(np.std(coefs, ddof=1)) if len(coefs) > 1 else float("nan")
    rows = []
    for v in NULL_VCOVS:
        ses, rej = out[v]
        rows.append(
            {
                "vcov": v,
                "rejection": float(np.mean(rej)) if rej else float("nan"),
                "mean_se": float(np.mean(ses)) if ses else float("nan"),
                "sd_draws": sd,
                "ratio": float(np.mean(ses)) / sd if ses and sd > 0 else float("nan"),
                "draws": len(rej),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------- dropping pairs
class PairDropFWL:
    """Exact TWFE DID coefficients after dropping sets of pairs, without refitting.

    On a balanced pair x year panel with pair and year fixed effects, dropping whole pairs
    keeps the panel balanced; the pair means of every variable do not change and only the
    year means must be recomputed over the kept pairs. With per-pair cross products of the
    pair-demeaned outcome, treatment and controls stored once, the Gram matrix of the kept
    pairs is the total minus the dropped pairs' part, corrected for the new year means; a
    coefficient then costs ``O(dropped pairs + T k^2)``. Used for leave-one-pilot-out
    influence; ``tests/test_placebo_stratified.py`` checks it against pyfixest.
    """

    def __init__(
        self, df: pd.DataFrame, y: str, treat: str = "did", controls: Sequence[str] = ()
    ) -> None:
        fe = ("pair_id", "year")
        values = _checked_values(df, [y, treat, *controls], fe)
        fei = FEIndex.from_frame(df, fe)
        if not fei.balanced:
            raise ValueError("PairDropFWL needs a balanced pair x year panel")
        P, T = fei.sizes
        grid = values[fei.order].reshape(P, T, -1)
        X = grid - grid.mean(axis=1, keepdims=True)  # (P, T, V): y, d, controls
        self.P, self.T, self.V = P, T, X.shape[2]
        self.X_p = X.reshape(P, T * self.V)
        self.S = np.einsum("ptk,ptl->pkl", X, X).reshape(P, self.V * self.V)
        self.sum_x = self.X_p.sum(axis=0)
        self.sum_s = self.S.sum(axis=0)
        self.pair_ids = np.asarray(pd.factorize(df["pair_id"], sort=True)[1])

    def positions(self, pair_ids: np.ndarray) -> np.ndarray:
        """Grid rows of the given ``pair_id`` values."""
        return np.searchsorted(self.pair_ids, np.asarray(pair_ids))

    def coef(self, drop: np.ndarray) -> float:
        """DID coefficient with the grid rows ``drop`` (from :meth:`positions`) left out."""
        drop = np.asarray(drop, dtype=np.int64)
        nk = self.P - drop.size
        V, T = self.V, self.T
        m = (self.sum_x - self.X_p[drop].sum(axis=0)).reshape(T, V) / nk
        g = (self.sum_s - self.S[drop].sum(axis=0)).reshape(V, V) - nk * m.T @ m
        if V > 2:
            zz = g[2:, 2:]
            sol = np.linalg.solve(zz, g[2:, :2])
            g = g[:2, :2] - g[:2, 2:] @ sol
        den = g[1, 1]
        return float(g[1, 0] / den) if den > 1e-10 * nk * T else float("nan")
