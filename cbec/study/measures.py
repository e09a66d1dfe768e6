"""City measures: the entropy-weight index, growth, cycle filters and pair synchronization.

Two layouts are used throughout.

*Long* city-year frames have columns ``city_id``, ``year`` and variables (the
:class:`cbec.data.panel.CityPanel` schema). *Wide* frames have one row per city (index
``city_id``, int), one column per year (int, strictly increasing) and float values; build
them with :func:`to_wide`.

Pair measures take a wide frame (or a 2-D array laid out the same way) and two integer
arrays ``i`` and ``j`` of equal length holding the row *positions* (0-based) of the two
cities of each pair. They return an array of shape ``(n_pairs, n_years)`` whose columns are
aligned with the wide frame's columns. Every pair measure is symmetric in ``(i, j)``.

Methods and sources
-------------------
- Entropy-weight index: the textbook entropy-weight method as used for Chinese city
  development indices (e.g. Zhang, Chen, Zhu & Yan 2023, the paper this book replicates).
- Hodrick-Prescott filter: Hodrick & Prescott (1997); lambda 6.25 for annual data follows
  Ravn & Uhlig (2002).
- Hamilton filter: Hamilton (2018), "Why you should never use the Hodrick-Prescott filter".
- Period-by-period synchronization: Cerqueira & Martins (2009), in the form written in the
  replicated paper.
- Growth-gap synchronization: Kalemli-Ozcan, Papaioannou & Peydro (2013).
- Rolling correlation of filtered cycles: in the spirit of Frankel & Rose (1998).
- Two-way demeaning of an unbalanced panel by alternating projections: Gaure (2013),
  Guimaraes & Portugal (2010).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import solveh_banded

__all__ = [
    "CM_EPS",
    "ENTROPY_SHIFT",
    "city_series",
    "cm_rho",
    "cm_sync",
    "cm_sync_from_wide",
    "cm_transform",
    "entropy_index",
    "entropy_weights",
    "growth",
    "hamilton_filter",
    "hp_filter",
    "kpp_sync",
    "residualize_two_way",
    "rolling_corr_sync",
    "to_wide",
    "zscore",
]

#: Constant added to the min-max normalised indicators before the shares ``p`` are formed,
#: so that ``p * ln p`` exists for the city-year at an indicator's minimum.
ENTROPY_SHIFT = 1e-4

#: Floor on both the numerator and the denominator inside the logarithm of the
#: Cerqueira-Martins transformation, so that identical z-scores (``rho = 1``) and the
#: extreme opposite spike (``rho = 3 - 2T``) give finite values.
CM_EPS = 1e-12

Wide = pd.DataFrame
ZLike = pd.DataFrame | NDArray[np.floating]

_MAX_LISTED = 8


# ----------------------------------------------------------------------------- helpers
def _list_some(items: Sequence[object]) -> str:
    """Render at most ``_MAX_LISTED`` items, saying how many were left off."""
    items = list(items)
    head = ", ".join(str(x) for x in items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        head += f", ... ({len(items)} in all)"
    return head


def _check_wide(wide: pd.DataFrame, what: str, *, consecutive: bool = False) -> NDArray:
    """Validate a wide city x year frame and return its values as float64."""
    if not isinstance(wide, pd.DataFrame):
        raise TypeError(f"{what} must be a wide pandas DataFrame (city x year), got {type(wide)}")
    if not wide.index.is_unique:
        dup = wide.index[wide.index.duplicated()].unique().tolist()
        raise ValueError(f"{what} has duplicate cities in its index: {_list_some(dup)}")
    try:
        years = np.asarray(wide.columns, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must have integer years as columns") from exc
    if not np.array_equal(years, np.asarray(wide.columns)):
        raise ValueError(f"{what} must have integer years as columns, got {list(wide.columns)}")
    if years.size and np.any(np.diff(years) <= 0):
        raise ValueError(f"{what} must have strictly increasing year columns, got {years.tolist()}")
    if consecutive and years.size and np.any(np.diff(years) != 1):
        raise ValueError(
            f"{what} must have consecutive year columns for a time-series operation, "
            f"got {years.tolist()}"
        )
    try:
        values = wide.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must hold numeric values") from exc
    if np.isinf(values).any():
        r, c = np.nonzero(np.isinf(values))
        where = [(wide.index[a], int(years[b])) for a, b in zip(r, c, strict=True)]
        raise ValueError(f"{what} has infinite values at (city, year) {_list_some(where)}")
    return values


def _like(wide: pd.DataFrame, values: NDArray) -> pd.DataFrame:
    """A float frame with the index and columns of ``wide``."""
    return pd.DataFrame(values, index=wide.index.copy(), columns=wide.columns.copy())


def _row_labels(z: ZLike) -> list[object]:
    if isinstance(z, pd.DataFrame):
        return [f"city {c}" for c in z.index]
    return [f"row {r}" for r in range(np.shape(z)[0])]


def _require_complete(wide: pd.DataFrame, values: NDArray, what: str) -> None:
    """Raise naming every city (and its years) with a NaN value."""
    bad = np.isnan(values)
    if bad.any():
        rows = np.nonzero(bad.any(axis=1))[0]
        parts = [f"{wide.index[r]} (years {[int(y) for y in wide.columns[bad[r]]]})" for r in rows]
        raise ValueError(
            f"{what} has NaN for {len(rows)} cities: {_list_some(parts)}. "
            "Drop or fill these cities before calling."
        )


def _as_matrix(z: ZLike, what: str) -> NDArray[np.float64]:
    """Values of a wide frame or 2-D array as float64."""
    if isinstance(z, pd.DataFrame):
        return _check_wide(z, what)
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 2-D (cities x years), got shape {arr.shape}")
    return arr


def _check_pairs(i: ArrayLike, j: ArrayLike, n_cities: int) -> tuple[NDArray, NDArray]:
    """Validate pair position arrays: integer, equal length, in range, no self-pairs."""
    ii = np.asarray(i)
    jj = np.asarray(j)
    for name, arr in (("i", ii), ("j", jj)):
        if arr.ndim != 1:
            raise ValueError(f"pair positions {name} must be 1-D, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                f"pair positions {name} must be integer row positions, got dtype {arr.dtype}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= n_cities):
            bad = np.nonzero((arr < 0) | (arr >= n_cities))[0]
            raise IndexError(
                f"pair positions {name} out of range 0..{n_cities - 1} at pairs {_list_some(bad)}"
            )
    if ii.shape != jj.shape:
        raise ValueError(f"i and j must have the same length, got {ii.size} and {jj.size}")
    same = np.nonzero(ii == jj)[0]
    if same.size:
        raise ValueError(f"pairs {_list_some(same)} join a city to itself (i == j)")
    return ii.astype(np.intp, copy=False), jj.astype(np.intp, copy=False)


# ---------------------------------------------------------------------- entropy index
def _entropy_core(
    values: NDArray[np.float64], negative_mask: NDArray[np.bool_], shift: float
) -> tuple[NDArray, NDArray, NDArray]:
    """Weights, minima and maxima of the entropy-weight method (inputs already validated)."""
    lo = values.min(axis=0)
    hi = values.max(axis=0)
    norm = _minmax(values, lo, hi, negative_mask)
    shifted = norm + shift
    p = shifted / shifted.sum(axis=0)
    n = values.shape[0]
    entropy = -(p * np.log(p)).sum(axis=0) / np.log(n)
    d = 1.0 - entropy
    return d / d.sum(), lo, hi


def _minmax(
    values: NDArray, lo: NDArray, hi: NDArray, negative_mask: NDArray[np.bool_]
) -> NDArray[np.float64]:
    span = hi - lo
    return np.where(negative_mask, (hi - values) / span, (values - lo) / span)


def _validate_indicators(
    X: pd.DataFrame, negative: Sequence[str], what: str
) -> tuple[NDArray, NDArray[np.bool_]]:
    if isinstance(negative, str):
        negative = (negative,)
    unknown = [c for c in negative if c not in X.columns]
    if unknown:
        raise ValueError(f"negative indicators {unknown} are not among the indicators of {what}")
    values = np.empty(X.shape, dtype=np.float64)
    for k, col in enumerate(X.columns):
        try:
            values[:, k] = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"indicator {col!r} of {what} is not numeric") from exc
        bad = ~np.isfinite(values[:, k])
        if bad.any():
            where = X.index[bad].tolist()
            raise ValueError(
                f"indicator {col!r} of {what} has {bad.sum()} missing or infinite values at "
                f"{_list_some(where)}; decide which rows to drop before building the index"
            )
    if values.shape[0] < 2:
        raise ValueError(f"{what} needs at least two observations, got {values.shape[0]}")
    mask = np.array([c in set(negative) for c in X.columns], dtype=bool)
    return values, mask


def _check_not_constant(columns: Sequence[str], lo: NDArray, hi: NDArray, what: str) -> None:
    const = [str(c) for c, a, b in zip(columns, lo, hi, strict=True) if a == b]
    if const:
        raise ValueError(
            f"indicator(s) {const} are constant over {what}; an entropy weight is undefined. "
            "Remove them from the indicator list."
        )


def entropy_weights(
    X: pd.DataFrame, negative: Sequence[str] = (), *, shift: float = ENTROPY_SHIFT
) -> pd.Series:
    """Entropy weights of the columns of ``X``.

    The entropy-weight method: each indicator ``k`` is min-max normalised over the rows,
    ``x'_k = (x_k - min) / (max - min)`` (``(max - x_k) / (max - min)`` for a negative
    indicator), shifted by ``shift`` so that every share is positive, turned into shares
    ``p = (x' + shift) / sum(x' + shift)``, and given the entropy
    ``e_k = -(1 / ln n) * sum p ln p`` with ``n`` the number of rows. The weight is
    ``w_k = d_k / sum(d)`` with ``d_k = 1 - e_k``: indicators that vary more across rows get
    more weight.

    Parameters
    ----------
    X
        One row per observation (city-year), one column per indicator, numeric.
    negative
        Names of indicators where a higher value means less development; they are reversed.
    shift
        Constant added before the shares are formed (default :data:`ENTROPY_SHIFT`,
        ``1e-4``). The weights depend on it slightly; they do not depend on the units of
        any indicator.

    Returns
    -------
    pandas.Series
        Weights indexed by indicator name (``name="weight"``), non-negative, summing to 1.

    Raises
    ------
    ValueError
        If an indicator has missing or infinite values (the offending row labels are
        listed), is constant, if ``negative`` names an unknown column, or if ``X`` has fewer
        than two rows.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame of indicators, got {type(X)}")
    if X.shape[1] == 0:
        raise ValueError("X has no indicator columns")
    if not shift > 0:
        raise ValueError(f"shift must be positive so that logs exist, got {shift}")
    values, mask = _validate_indicators(X, negative, "X")
    lo, hi = values.min(axis=0), values.max(axis=0)
    _check_not_constant(list(X.columns), lo, hi, "the rows of X")
    w, _, _ = _entropy_core(values, mask, shift)
    return pd.Series(w, index=pd.Index(list(X.columns), name="indicator"), name="weight")


def entropy_index(
    data: pd.DataFrame,
    indicators: Sequence[str],
    *,
    negative: Sequence[str] = (),
    years: Sequence[int] | None = None,
    scale: float = 100.0,
    shift: float = ENTROPY_SHIFT,
) -> tuple[pd.Series, pd.Series]:
    """Composite development index by the entropy-weight method.

    ``d_it = scale * sum_k w_k * x'_kit`` where ``x'`` is the min-max normalised indicator
    (reversed for ``negative`` ones, *without* the entropy shift) and ``w`` are the
    :func:`entropy_weights` of the reference city-years.

    Parameters
    ----------
    data
        Long city-year frame with columns ``city_id``, ``year`` and the indicators.
    indicators
        Indicator columns entering the index (e.g. :data:`cbec.spec.NINE_INDICATORS`).
    negative
        Indicators where higher means less developed (reversed in the normalisation).
    years
        Reference years. ``None`` (default) uses every city-year of ``data`` for both the
        min-max bounds and the weights, so the index lies in ``[0, scale]``. Otherwise only
        city-years whose year is in ``years`` set the bounds and the weights, and those
        fixed bounds and weights are then applied to every row of ``data``; rows outside the
        reference years can therefore fall outside ``[0, scale]``. This keeps the index of a
        window unchanged when run-in years are added to the panel.
    scale
        Multiplier of the index (default 100).
    shift
        Constant of the entropy shares, see :func:`entropy_weights`.

    Returns
    -------
    index : pandas.Series
        Index value per city-year, MultiIndex ``(city_id, year)`` sorted, ``name="dev_index"``.
    weights : pandas.Series
        Entropy weight per indicator, ``name="weight"``, summing to 1.

    Raises
    ------
    ValueError
        If a key column or an indicator is missing, if an indicator has NaN or infinite
        values in any city-year (all such city-years are listed: the caller decides what to
        drop), if an indicator is constant over the reference city-years, if a city-year is
        duplicated, or if ``years`` selects no rows.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a long city-year DataFrame, got {type(data)}")
    if isinstance(indicators, str):
        indicators = (indicators,)
    indicators = list(indicators)
    if not indicators:
        raise ValueError("indicators is empty")
    missing_keys = [c for c in ("city_id", "year") if c not in data.columns]
    if missing_keys:
        raise ValueError(f"data lacks key columns {missing_keys}")
    missing = [c for c in indicators if c not in data.columns]
    if missing:
        raise ValueError(f"indicator(s) {missing} are not columns of data")
    if len(set(indicators)) != len(indicators):
        raise ValueError(f"indicators has duplicates: {indicators}")
    if not shift > 0:
        raise ValueError(f"shift must be positive so that logs exist, got {shift}")
    keys = data[["city_id", "year"]].astype("int64")
    dup = keys.duplicated()
    if dup.any():
        raise ValueError(
            f"data has duplicate city-years: {_list_some(list(map(tuple, keys[dup].to_numpy())))}"
        )
    X = data[indicators].copy()
    X.index = pd.MultiIndex.from_frame(keys)
    values, mask = _validate_indicators(X, negative, "data")

    if years is None:
        ref = np.ones(len(X), dtype=bool)
        where = "all city-years"
    else:
        ref = keys["year"].isin([int(y) for y in years]).to_numpy()
        where = f"the reference years {sorted(int(y) for y in years)}"
        if ref.sum() < 2:
            raise ValueError(f"years={list(years)} selects {ref.sum()} city-years; need at least 2")
    ref_values = values[ref]
    lo, hi = ref_values.min(axis=0), ref_values.max(axis=0)
    _check_not_constant(indicators, lo, hi, where)
    w, lo, hi = _entropy_core(ref_values, mask, shift)
    norm = _minmax(values, lo, hi, mask)
    index = pd.Series(scale * norm @ w, index=X.index, name="dev_index").sort_index()
    weights = pd.Series(w, index=pd.Index(indicators, name="indicator"), name="weight")
    return index, weights


# ------------------------------------------------------------------- wide and growth
def to_wide(series_or_long: pd.Series | pd.DataFrame, value: str | None = None) -> pd.DataFrame:
    """Reshape a city-year variable to a wide city x year frame.

    Parameters
    ----------
    series_or_long
        Either a Series with a two-level MultiIndex ``(city_id, year)`` (levels named so,
        or the first two levels in that order), or a long DataFrame with columns (or index
        levels) ``city_id``, ``year`` and the value column.
    value
        Value column of a long DataFrame; may be omitted when it has exactly one non-key
        column.

    Returns
    -------
    pandas.DataFrame
        Index ``city_id`` (int64, sorted), columns ``year`` (int64, sorted), float values.
        City-years absent from the input are NaN (nothing is dropped).

    Raises
    ------
    ValueError
        On duplicate city-years, a missing key or value column, or non-numeric values.
    """
    if isinstance(series_or_long, pd.Series):
        s = series_or_long
        if not isinstance(s.index, pd.MultiIndex) or s.index.nlevels != 2:
            raise ValueError("a Series must have a two-level (city_id, year) MultiIndex")
        names = list(s.index.names)
        if "city_id" in names and "year" in names:
            s = s.reorder_levels(["city_id", "year"])
        long = pd.DataFrame(
            {
                "city_id": s.index.get_level_values(0),
                "year": s.index.get_level_values(1),
                "_value": s.to_numpy(),
            }
        )
        value = "_value"
    elif isinstance(series_or_long, pd.DataFrame):
        long = series_or_long
        if any(n in ("city_id", "year") for n in long.index.names if n is not None):
            long = long.reset_index()
        missing = [c for c in ("city_id", "year") if c not in long.columns]
        if missing:
            raise ValueError(f"long frame lacks key columns {missing}")
        if value is None:
            others = [c for c in long.columns if c not in ("city_id", "year")]
            if len(others) != 1:
                raise ValueError(f"say which column to reshape with value=; candidates {others}")
            value = others[0]
        if value not in long.columns:
            raise ValueError(f"value column {value!r} is not in the long frame")
    else:
        raise TypeError(f"expected a Series or a long DataFrame, got {type(series_or_long)}")

    city = long["city_id"].to_numpy(dtype=np.int64)
    year = long["year"].to_numpy(dtype=np.int64)
    try:
        vals = long[value].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"values of {value!r} are not numeric") from exc
    idx = pd.MultiIndex.from_arrays([city, year], names=["city_id", "year"])
    if idx.has_duplicates:
        dup = idx[idx.duplicated()].unique().tolist()
        raise ValueError(f"duplicate city-years: {_list_some(dup)}")
    cities, ci = np.unique(city, return_inverse=True)
    years, yi = np.unique(year, return_inverse=True)
    out = np.full((cities.size, years.size), np.nan)
    out[ci, yi] = vals
    return pd.DataFrame(
        out,
        index=pd.Index(cities, name="city_id", dtype="int64"),
        columns=pd.Index(years, name="year", dtype="int64"),
    )


def growth(wide: pd.DataFrame, kind: Literal["log", "pct"] = "log") -> pd.DataFrame:
    """Year-on-year growth of each city's series.

    Parameters
    ----------
    wide
        City x year frame with consecutive year columns.
    kind
        ``"log"`` (default): ``ln x_t - ln x_{t-1}`` (values must be positive).
        ``"pct"``: ``x_t / x_{t-1} - 1`` as a fraction (not percent).

    Returns
    -------
    pandas.DataFrame
        Same shape, index and columns; the first year is NaN, and so is any year whose
        value or previous value is NaN.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, years are not consecutive, log growth meets a non-positive
        value, or percentage growth meets a zero base (cities listed).
    """
    x = _check_wide(wide, "wide", consecutive=True)
    out = np.full_like(x, np.nan)
    if kind == "log":
        bad = x <= 0
        if bad.any():
            cities = wide.index[bad.any(axis=1)].tolist()
            raise ValueError(
                f"log growth needs positive values; non-positive in cities {_list_some(cities)}"
            )
        lx = np.log(x)
        out[:, 1:] = lx[:, 1:] - lx[:, :-1]
    elif kind == "pct":
        base = x[:, :-1]
        zero = base == 0
        if zero.any():
            cities = wide.index[zero.any(axis=1)].tolist()
            raise ValueError(f"percentage growth over a zero base in cities {_list_some(cities)}")
        out[:, 1:] = x[:, 1:] / base - 1.0
    else:
        raise ValueError(f"kind must be 'log' or 'pct', got {kind!r}")
    return _like(wide, out)


# ---------------------------------------------------------------------------- filters
def hp_filter(wide: pd.DataFrame, lamb: float = 6.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hodrick-Prescott filter of every city's series at once.

    The trend ``tau`` minimises ``sum (y - tau)^2 + lamb * sum (Delta^2 tau)^2``
    (Hodrick & Prescott 1997), i.e. solves ``(I + lamb K'K) tau = y`` with ``K`` the
    second-difference matrix. The symmetric pentadiagonal system is factorised once and
    solved for all cities together (``scipy.linalg.solveh_banded``). The default
    ``lamb = 6.25`` is Ravn & Uhlig's (2002) value for annual data.

    Parameters
    ----------
    wide
        City x year frame, consecutive years, at least 3, no NaN.
    lamb
        Smoothing parameter, positive.

    Returns
    -------
    cycle, trend : pandas.DataFrame
        ``cycle = y - trend``, both shaped like ``wide``.

    Raises
    ------
    ValueError
        On NaN (cities and years listed), fewer than 3 years or a non-positive ``lamb``.
    """
    y = _check_wide(wide, "wide", consecutive=True)
    _require_complete(wide, y, "hp_filter input")
    T = y.shape[1]
    if T < 3:
        raise ValueError(f"hp_filter needs at least 3 years, got {T}")
    if not lamb > 0:
        raise ValueError(f"lamb must be positive, got {lamb}")
    K = np.diff(np.eye(T), n=2, axis=0)  # (T-2, T) second differences
    A = np.eye(T) + lamb * (K.T @ K)
    ab = np.zeros((3, T))  # upper banded storage: ab[2 + r - c, c] = A[r, c]
    for k in range(3):
        ab[2 - k, k:] = np.diagonal(A, offset=k)
    trend = solveh_banded(ab, y.T, check_finite=False).T if y.shape[0] else y.copy()
    return _like(wide, y - trend), _like(wide, trend)


def hamilton_filter(wide: pd.DataFrame, h: int = 2, p: int = 2) -> pd.DataFrame:
    """Hamilton (2018) regression filter of every city's series.

    For each city, ``y_{t+h}`` is regressed by OLS on a constant and
    ``y_t, y_{t-1}, ..., y_{t-p+1}``; the residual is the cycle at ``t + h``. Hamilton
    suggests a two-year horizon and a year's worth of lags (``h = 8, p = 4`` for quarterly
    data); read literally for annual data that is ``h = 2, p = 1``. The default here is
    ``h = 2, p = 2``. The regressions are solved for all cities at once (batched
    pseudo-inverse).

    Parameters
    ----------
    wide
        City x year frame, consecutive years, no NaN; typically ``100 * log`` of a level.
    h
        Horizon in years (>= 1).
    p
        Number of lags (>= 1).

    Returns
    -------
    pandas.DataFrame
        The cycle, shaped like ``wide``; the first ``h + p - 1`` years are NaN.

    Raises
    ------
    ValueError
        On NaN, too few years for ``T - h - p + 1 > p + 1`` observations, or a city whose
        regressors are collinear (e.g. a constant series).
    """
    y = _check_wide(wide, "wide", consecutive=True)
    _require_complete(wide, y, "hamilton_filter input")
    if h < 1 or p < 1:
        raise ValueError(f"h and p must be at least 1, got h={h}, p={p}")
    n, T = y.shape
    m = T - h - p + 1  # regression observations per city
    k = p + 1
    if m <= k:
        raise ValueError(
            f"hamilton_filter with h={h}, p={p} on {T} years leaves {m} observations for "
            f"{k} coefficients; need more years"
        )
    # lag l of regressor row r is y[t - l] with t = p - 1 + r
    X = np.ones((n, m, k))
    for lag in range(p):
        X[:, :, 1 + lag] = y[:, p - 1 - lag : p - 1 - lag + m]
    target = y[:, p - 1 + h :]
    rank = np.linalg.matrix_rank(X)
    if np.any(rank < k):
        bad = wide.index[rank < k].tolist()
        raise ValueError(f"hamilton_filter regressors are collinear for cities {_list_some(bad)}")
    beta = np.linalg.pinv(X) @ target[:, :, None]
    out = np.full_like(y, np.nan)
    out[:, p - 1 + h :] = target - (X @ beta)[:, :, 0]
    return _like(wide, out)


def zscore(wide: pd.DataFrame, ddof: int = 0, ref: Sequence[int] | None = None) -> pd.DataFrame:
    """Standardise each city's series over its own years (row-wise).

    ``z_it = (x_it - mean_i) / sd_i`` with ``sd`` computed with ``ddof`` degrees of freedom
    (0: population sd, the default of the Cerqueira-Martins measure). ``ref`` (a subset of
    the columns, e.g. the years before the first designation) computes the mean and sd on
    those years only and applies them to every year, so that later years cannot move the
    earlier values.

    Raises
    ------
    ValueError
        If a city has NaN (cities and years listed), a city's series is constant (sd at or
        below ``1e-12`` times its largest absolute value), or there are too few years.
    """
    x = _check_wide(wide, "wide")
    _require_complete(wide, x, "zscore input")
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof}")
    if x.shape[1] <= max(ddof, 1):
        raise ValueError(f"zscore needs at least 2 years, got {x.shape[1]}")
    xr = x
    if ref is not None:
        cols = [int(c) for c in ref]
        missing = [c for c in cols if c not in set(int(y) for y in wide.columns)]
        if missing:
            raise ValueError(f"reference years {missing} are not columns of the frame")
        xr = wide[cols].to_numpy(dtype=np.float64)
        if xr.shape[1] <= max(ddof, 1):
            raise ValueError(f"zscore needs at least 2 reference years, got {xr.shape[1]}")
    mean = xr.mean(axis=1, keepdims=True)
    sd = xr.std(axis=1, ddof=ddof, keepdims=True)
    const = sd[:, 0] <= 1e-12 * np.abs(xr).max(axis=1)
    if const.any():
        raise ValueError(
            f"cities with a constant series cannot be standardised: {_list_some(wide.index[const].tolist())}"
        )
    return _like(wide, (x - mean) / sd)


# ---------------------------------------------------------------------- synchronization
def cm_rho(z: ZLike, i: ArrayLike, j: ArrayLike) -> NDArray[np.float64]:
    """Cerqueira-Martins period correlation ``rho_ijt = 1 - (z_it - z_jt)^2 / 2``.

    Parameters
    ----------
    z
        Standardised series (see :func:`zscore`), wide frame or 2-D array (cities x years).
    i, j
        Row positions of the two cities of each pair.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_pairs, n_years)``; ``rho <= 1`` with equality for equal z. If every
        city's ``z`` has mean 0 and population sd 1 over ``T`` years, ``|z| <= sqrt(T-1)``
        (equality for a single spike), so ``rho >= 3 - 2T``. NaN in ``z`` propagates.
    """
    zz = _as_matrix(z, "z")
    ii, jj = _check_pairs(i, j, zz.shape[0])
    d = zz[ii] - zz[jj]
    return 1.0 - 0.5 * d * d


def cm_transform(rho: ArrayLike, T: int) -> NDArray[np.float64]:
    """The Cerqueira-Martins transformation ``SYN = 0.5 ln[(1 + rho/(2T-3)) / (1 - rho)]``.

    This is the form written in the replicated paper. It is strictly increasing in ``rho``
    on ``[3 - 2T, 1]``, zero at ``rho = 0``, and would be ``-inf`` at the lower bound and
    ``+inf`` at ``rho = 1``. Both the numerator and the denominator are floored at
    :data:`CM_EPS` (``1e-12``) so that the result is finite: at most
    ``0.5 ln((1 + 1/(2T-3)) / 1e-12)``, about 13.8, in absolute value.

    Parameters
    ----------
    rho
        Values of :func:`cm_rho`.
    T
        Number of years over which ``z`` was standardised (``T >= 2``).

    Raises
    ------
    ValueError
        If ``T < 2`` or some ``rho`` lies below ``3 - 2T`` by more than rounding (``z`` was
        not standardised over ``T`` years).
    """
    T = int(T)
    if T < 2:
        raise ValueError(f"T must be at least 2, got {T}")
    r = np.asarray(rho, dtype=np.float64)
    num = 1.0 + r / (2 * T - 3)
    if np.any(num < -1e-9):
        raise ValueError(
            f"rho below the bound 3 - 2T = {3 - 2 * T} (min {np.nanmin(r):.6g}): were the "
            f"series standardised over T = {T} years?"
        )
    with np.errstate(invalid="ignore"):
        num = np.maximum(num, CM_EPS)
        den = np.maximum(1.0 - r, CM_EPS)
    return 0.5 * np.log(num / den)


def cm_sync(z: ZLike, i: ArrayLike, j: ArrayLike, T: int | None = None) -> NDArray[np.float64]:
    """Cerqueira & Martins (2009) period-by-period synchronization of city pairs.

    ``SYN_ijt = 0.5 ln[(1 + rho_ijt/(2T-3)) / (1 - rho_ijt)]`` with ``rho`` from
    :func:`cm_rho`; see :func:`cm_transform` for the bounds and the ``1e-12`` floor that
    keeps identical z-scores finite.

    Parameters
    ----------
    z
        Standardised series, wide frame or 2-D array (cities x years).
    i, j
        Row positions of the two cities of each pair.
    T
        Years over which ``z`` was standardised; the number of columns of ``z`` if None.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_pairs, n_years)``, columns aligned with ``z``.
    """
    zz = _as_matrix(z, "z")
    return cm_transform(cm_rho(zz, i, j), zz.shape[1] if T is None else T)


def cm_sync_from_wide(
    values_wide: pd.DataFrame, i: ArrayLike, j: ArrayLike, ddof: int = 0
) -> NDArray[np.float64]:
    """:func:`zscore` each city over all columns of ``values_wide``, then :func:`cm_sync`."""
    z = zscore(values_wide, ddof=ddof)
    return cm_sync(z, i, j)


def kpp_sync(g: ZLike, i: ArrayLike, j: ArrayLike) -> NDArray[np.float64]:
    """Growth-gap synchronization ``-|g_it - g_jt|``.

    Kalemli-Ozcan, Papaioannou & Peydro (2013): minus the absolute difference of the two
    cities' growth rates; 0 is perfect co-movement. NaN in ``g`` (e.g. the first year of
    :func:`growth`) propagates.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_pairs, n_years)``, columns aligned with ``g``.
    """
    gg = _as_matrix(g, "g")
    ii, jj = _check_pairs(i, j, gg.shape[0])
    return -np.abs(gg[ii] - gg[jj])


def residualize_two_way(
    wide: pd.DataFrame, *, tol: float = 1e-12, max_iter: int = 10_000
) -> pd.DataFrame:
    """Remove city and year effects from a city x year frame.

    Returns the residual of an OLS regression of ``x_it`` on city and year dummies. When
    the frame has no NaN this is the closed form ``x - row mean - column mean + grand
    mean``. With NaN the residual is found by alternating projections (subtract row means,
    then column means, over the observed cells, until every row and column mean of the
    residual is below ``tol * max(1, max|x|)`` in absolute value; Guimaraes & Portugal 2010,
    Gaure 2013). Cities or years with no observed value stay all NaN and are ignored; NaN
    cells stay NaN.

    Raises
    ------
    RuntimeError
        If the projections have not converged after ``max_iter`` sweeps.
    """
    x = _check_wide(wide, "wide")
    obs = ~np.isnan(x)
    rows = obs.any(axis=1)
    cols = obs.any(axis=0)
    sub = x[np.ix_(rows, cols)]
    out = np.full_like(x, np.nan)
    if sub.size == 0:
        return _like(wide, out)
    m = ~np.isnan(sub)
    if m.all():
        res = sub - sub.mean(axis=1, keepdims=True) - sub.mean(axis=0, keepdims=True) + sub.mean()
    else:
        w = m.astype(np.float64)
        n_row = w.sum(axis=1, keepdims=True)
        n_col = w.sum(axis=0, keepdims=True)
        res = np.where(m, sub, 0.0)
        limit = tol * max(1.0, float(np.abs(res).max()))
        for _ in range(max_iter):
            res = np.where(m, res - res.sum(axis=1, keepdims=True) / n_row, 0.0)
            res = np.where(m, res - res.sum(axis=0, keepdims=True) / n_col, 0.0)
            worst = np.abs(res.sum(axis=1) / n_row[:, 0]).max()
            if worst <= limit:  # columns are exactly demeaned by the last step
                break
        else:
            raise RuntimeError(
                f"residualize_two_way did not converge in {max_iter} sweeps "
                f"(largest row mean {worst:.3g})"
            )
        res = np.where(m, res, np.nan)
    out[np.ix_(rows, cols)] = res
    return _like(wide, out)


def rolling_corr_sync(
    cycle: ZLike, i: ArrayLike, j: ArrayLike, window: int = 5
) -> NDArray[np.float64]:
    """Rolling Pearson correlation of two cities' cycles over trailing windows.

    The value at year ``t`` is the correlation over years ``t - window + 1, ..., t``
    (Frankel & Rose 1998 use whole-period correlations; the rolling form gives a pair-year
    outcome). Each window is centred before the products are taken, so no cumulative-sum
    cancellation arises.

    Parameters
    ----------
    cycle
        Filtered cycles, wide frame or 2-D array (cities x years, consecutive years).
    i, j
        Row positions of the two cities of each pair.
    window
        Window length in years (>= 3).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_pairs, n_years)``; the first ``window - 1`` years are NaN, and so is any
        window with a NaN in either series (fewer than ``window`` complete years) or with a
        constant series (zero variance). Values are clipped to ``[-1, 1]``.
    """
    if isinstance(cycle, pd.DataFrame):
        c = _check_wide(cycle, "cycle", consecutive=True)
    else:
        c = _as_matrix(cycle, "cycle")
    ii, jj = _check_pairs(i, j, c.shape[0])
    window = int(window)
    n, T = c.shape
    if window < 3:
        raise ValueError(f"window must be at least 3 years, got {window}")
    out = np.full((ii.size, T), np.nan)
    if window > T:
        return out
    win = np.lib.stride_tricks.sliding_window_view(c, window, axis=1)  # (n, T-w+1, w)
    dev = win - win.mean(axis=2, keepdims=True)
    ss = np.einsum("ntw,ntw->nt", dev, dev)
    cross = np.einsum("ptw,ptw->pt", dev[ii], dev[jj])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross / np.sqrt(ss[ii] * ss[jj])
    r[~np.isfinite(r)] = np.nan
    out[:, window - 1 :] = np.clip(r, -1.0, 1.0)
    return out


# ------------------------------------------------------------------------ city series
def city_series(
    index_wide: pd.DataFrame,
    kind: Literal["level", "growth", "cycle"] = "level",
    cycle_filter: Literal["hp", "hamilton"] = "hp",
    lamb: float = 6.25,
    *,
    h: int = 2,
    p: int = 2,
) -> pd.DataFrame:
    """The city series a synchronization measure is computed on (``Spec.index_input``).

    Parameters
    ----------
    index_wide
        The development index, city x year.
    kind
        ``"level"``: the index as is. ``"growth"``: its first difference in index points
        (first year NaN). ``"cycle"``: the cycle of the index by the HP filter (``lamb``)
        or the Hamilton filter (``h``, ``p``; first ``h + p - 1`` years NaN). The entropy
        index is a min-max score whose zero is arbitrary (the worst city-year of the
        weighting years), so logs of it carry no meaning and are not taken.
    cycle_filter
        ``"hp"`` or ``"hamilton"`` (``Spec.cycle_filter``).
    lamb
        HP smoothing parameter (``Spec.hp_lambda``).
    h, p
        Hamilton horizon and lags.

    Raises
    ------
    ValueError
        On NaN inside the series (the cities are listed).
    """
    if kind == "level":
        x = _check_wide(index_wide, "index_wide")
        return _like(index_wide, x.copy())
    if kind == "growth":
        x = _check_wide(index_wide, "index_wide", consecutive=True)
        d = np.full_like(x, np.nan)
        d[:, 1:] = np.diff(x, axis=1)
        return _like(index_wide, d)
    if kind == "cycle":
        x = _check_wide(index_wide, "index_wide", consecutive=True)
        if cycle_filter == "hp":
            return hp_filter(index_wide, lamb=lamb)[0]
        if cycle_filter == "hamilton":
            return hamilton_filter(index_wide, h=h, p=p)
        raise ValueError(f"cycle_filter must be 'hp' or 'hamilton', got {cycle_filter!r}")
    raise ValueError(f"kind must be 'level', 'growth' or 'cycle', got {kind!r}")
