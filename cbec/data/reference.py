"""City registry and pilot roster: which cities the study has and which are pilots.

Reads the two committed tables of ``data/reference/`` (built by
``scripts/build_reference.py``; every column is described in
``data/reference/CODEBOOK.md``):

``cities.csv``
    one row per prefecture-level unit and municipality (codes, names, pinyin, rank,
    regions, coordinates);
``pilot_areas.csv``
    the 165 cross-border e-commerce comprehensive pilot areas of batches 1-7 with their
    State Council approval documents and dates.

and turns them, under a :class:`~cbec.spec.Spec`, into the study's universe of cities with
their pilot status and treatment year (:func:`select_universe`). Everything excluded is
listed in an audit table with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cbec import audit as _audit_mod
from cbec.data.geo import haversine_km

if TYPE_CHECKING:
    from cbec.spec import Spec

#: Columns of ``cities.csv``, in order.
CITY_COLUMNS: tuple[str, ...] = (
    "city_id",
    "name_zh",
    "short_zh",
    "name_pinyin",
    "province_code",
    "province_zh",
    "province_pinyin",
    "level",
    "admin_rank",
    "rank_label",
    "region3",
    "region4",
    "lon",
    "lat",
    "city_since",
    "notes",
)

#: Columns of ``pilot_areas.csv``, in order.
AREA_COLUMNS: tuple[str, ...] = (
    "batch",
    "area_zh",
    "area_pinyin",
    "document",
    "signed",
    "first_posted",
    "verified",
    "area_type",
    "city_id",
    "prefecture_zh",
    "handling",
    "note",
)

#: Levels of prefecture-level units in the registry.
PREFECTURE_LEVELS: tuple[str, ...] = (
    "municipality",
    "prefecture_city",
    "autonomous_prefecture",
    "league",
    "prefecture_region",
)

#: Area types that are not prefecture-level units; ``Spec.county_pilot_rule`` decides them.
SUB_PREFECTURE_TYPES: tuple[str, ...] = ("county_level_city", "new_area")

#: Rules of :func:`treatment_year`.
TREAT_YEAR_RULES: tuple[str, ...] = ("approval", "first_full", "date_rule")

#: Prefecture-level units that were created or abolished after 2004: city_id ->
#: (first year, last year) in which the unit existed as a prefecture-level unit at year end
#: (``None``: before 2005 / still exists). Units converted from a 地区 or 盟 to a city
#: existed throughout as prefecture-level units and are not listed. Facts from the Ministry
#: of Civil Affairs' yearly lists of administrative-division changes.
UNIT_YEARS: dict[int, tuple[int | None, int | None]] = {
    341400: (None, 2010),  # Chaohu: abolished in 2011 and split among Hefei, Wuhu, Ma'anshan
    371200: (None, 2018),  # Laiwu: merged into Jinan, approved Dec 2018, in force Jan 2019
    460300: (2012, None),  # Sansha: set up in July 2012
    460400: (2015, None),  # Danzhou: county-level city upgraded in February 2015
}

#: The paper's estimation window and last treated batch [paper].
PAPER_WINDOW: tuple[int, int] = (2010, 2019)
PAPER_LAST_BATCH = 4
#: Prefecture-level pilots of batches 1-4 that the paper drops for missing data [paper].
PAPER_DROPPED_PILOTS: dict[int, str] = {630200: "Haidong"}
#: Sizes of the paper's sample [paper]: 254 cities, 55 of them pilots.
PAPER_N_CITIES = 254
PAPER_N_PILOTS = 55
PAPER_N_CONTROLS = PAPER_N_CITIES - PAPER_N_PILOTS

_AUDIT_SOURCE = "reference"


# =============================================================================== loading
def reference_dir() -> Path:
    """Folder of the committed reference tables (``<repo>/data/reference``).

    Raises
    ------
    FileNotFoundError
        If the folder is missing (for example when ``cbec`` is installed without its
        repository); the message says where it was looked for.
    """
    path = Path(__file__).resolve().parents[2] / "data" / "reference"
    if not path.is_dir():
        raise FileNotFoundError(
            f"reference tables not found: {path} does not exist. cbec reads "
            "data/reference/ from its repository checkout; install it editable "
            "(pip install -e .) from the repository, or run scripts/build_reference.py"
        )
    return path


def _read(name: str, directory: Path | None) -> pd.DataFrame:
    folder = Path(directory) if directory is not None else reference_dir()
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"reference table not found: {path}. Regenerate it with "
            "`python scripts/build_reference.py` from the repository root"
        )
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _check_columns(df: pd.DataFrame, expected: tuple[str, ...], name: str) -> None:
    if tuple(df.columns) != expected:
        raise ValueError(f"{name}: columns {list(df.columns)}, expected {list(expected)}")


def load_cities(directory: Path | None = None) -> pd.DataFrame:
    """The city registry, one row per prefecture-level unit and municipality.

    Parameters
    ----------
    directory
        Folder holding ``cities.csv``; default :func:`reference_dir`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CITY_COLUMNS`. ``city_id``, ``province_code`` and ``admin_rank`` are
        int64, ``lon``/``lat`` float64, ``city_since`` Int64 (NA unless the unit became a
        prefecture-level city after 2004), text columns are strings (``notes`` may be "").
        Sorted by ``city_id``.
    """
    df = _read("cities.csv", directory)
    _check_columns(df, CITY_COLUMNS, "cities.csv")
    for col in ("city_id", "province_code", "admin_rank"):
        df[col] = df[col].astype("int64")
    for col in ("lon", "lat"):
        df[col] = df[col].astype("float64")
    df["city_since"] = pd.to_numeric(df["city_since"].replace("", None)).astype("Int64")
    if not df["city_id"].is_unique:
        raise ValueError("cities.csv: city_id is not unique")
    return df.sort_values("city_id").reset_index(drop=True)


def load_pilot_areas(directory: Path | None = None) -> pd.DataFrame:
    """The pilot roster: the 165 pilot areas of batches 1-7.

    Parameters
    ----------
    directory
        Folder holding ``pilot_areas.csv``; default :func:`reference_dir`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AREA_COLUMNS`. ``batch`` and ``city_id`` are int64; ``signed`` and
        ``first_posted`` are datetime64 (NaT where the date is unknown: batch 6's signing
        day and batch 5's posting day); text columns are strings.
    """
    df = _read("pilot_areas.csv", directory)
    _check_columns(df, AREA_COLUMNS, "pilot_areas.csv")
    for col in ("batch", "city_id"):
        df[col] = df[col].astype("int64")
    for col in ("signed", "first_posted"):
        df[col] = pd.to_datetime(df[col].replace("", None), format="%Y-%m-%d")
    return df


# ========================================================================= treatment year
def treatment_year(signed: Any, rule: str) -> Any:
    """Year a pilot counts as treated, from the date its approval was signed.

    Parameters
    ----------
    signed
        A date-like scalar (an ISO ``str`` such as "2015-03-07", :class:`datetime.date`,
        :class:`pandas.Timestamp`) or a :class:`pandas.Series` of dates (ISO strings, dates
        or datetime64; missing dates allowed in a Series).
    rule
        ``"approval"``: the year signed. ``"first_full"``: the first full calendar year
        under the pilot, i.e. the next year, unless signed on 1 January. ``"date_rule"``:
        the year signed if signed before 1 July, else the next year.

    Returns
    -------
    int or pandas.Series
        An ``int`` for a scalar; an Int64 Series (NA where the date is missing) aligned to
        the input for a Series.

    Raises
    ------
    ValueError
        Unknown rule, unparseable date, or a missing scalar date.

    Examples
    --------
    >>> treatment_year("2015-03-07", "first_full")
    2016
    >>> treatment_year("2019-12-15", "date_rule")
    2020
    """
    if rule not in TREAT_YEAR_RULES:
        raise ValueError(f"treatment_year: rule must be one of {TREAT_YEAR_RULES}, got {rule!r}")
    if isinstance(signed, pd.Series):
        try:
            dates = pd.to_datetime(signed, format="ISO8601")
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"treatment_year: cannot parse dates in {signed.name!r}: {err}"
            ) from err
        year = dates.dt.year.astype("Int64")
        month = dates.dt.month.astype("Int64")
        day = dates.dt.day.astype("Int64")
        if rule == "approval":
            return year
        if rule == "first_full":
            jan1 = (month == 1) & (day == 1)
            return year + (~jan1).astype("Int64")
        return year + (month >= 7).astype("Int64")
    if signed is None or (not isinstance(signed, str) and pd.isna(signed)):
        raise ValueError("treatment_year: the signed date is missing")
    try:
        # strings must be ISO dates: a free-form parser reads "15th March" as year 1
        ts = (
            pd.to_datetime(signed, format="ISO8601")
            if isinstance(signed, str)
            else pd.Timestamp(signed)
        )
    except (ValueError, TypeError) as err:
        raise ValueError(f"treatment_year: cannot parse date {signed!r}: {err}") from err
    if pd.isna(ts):
        raise ValueError(f"treatment_year: the signed date is missing ({signed!r})")
    if rule == "approval":
        return int(ts.year)
    if rule == "first_full":
        return int(ts.year) if (ts.month, ts.day) == (1, 1) else int(ts.year) + 1
    return int(ts.year) if ts.month < 7 else int(ts.year) + 1


# ============================================================================ pilot cities
def _effective_dates(areas: pd.DataFrame) -> pd.Series:
    """Signed date, or the first posting when the signing day is unknown (batch 6)."""
    return areas["signed"].fillna(areas["first_posted"])


def pilot_cities(
    spec: Spec,
    cities: pd.DataFrame | None = None,
    areas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Prefecture-level units that are pilots in any batch 1-7, under the county rule.

    Areas that are not prefecture-level units (county-level cities such as Yiwu, Hunchun,
    Suifenhe; the Xiong'an New Area) are dropped when ``spec.county_pilot_rule == "drop"``
    and counted for the prefecture that holds them under ``"map_to_prefecture"``. A unit
    with several areas takes its earliest batch.

    Parameters
    ----------
    spec
        Uses ``county_pilot_rule``, ``treat_year_rule`` and ``last_batch``.
    cities, areas
        Registry and roster; default :func:`load_cities` and :func:`load_pilot_areas`.

    Returns
    -------
    pandas.DataFrame
        One row per unit, sorted by ``city_id``: ``city_id`` (int64), ``batch`` (int64,
        earliest), ``signed`` (datetime64, earliest; NaT for batch 6, whose signing day is
        unknown), ``treat_year`` (int64, from ``spec.treat_year_rule``; batch 6 uses the
        first posting date, 8 February 2022, which gives the same year as any January
        signing under all three rules), ``areas`` (area names joined by "; ", in batch
        order) and ``in_window_batch`` (bool: ``batch <= spec.last_batch``).
    """
    cities = load_cities() if cities is None else cities
    areas = load_pilot_areas() if areas is None else areas
    unknown = sorted(set(areas["city_id"]) - set(cities["city_id"]))
    if unknown:
        raise ValueError(
            f"pilot_cities: pilot areas point to city_id not in the registry: {unknown}"
        )
    out = designation_dates(areas, county_areas=spec.county_pilot_rule == "map_to_prefecture")
    out["treat_year"] = treatment_year(out["date"], spec.treat_year_rule).astype("int64")
    out["in_window_batch"] = out["batch"] <= spec.last_batch
    return out[["city_id", "batch", "signed", "treat_year", "areas", "in_window_batch"]]


def designation_dates(areas: pd.DataFrame | None = None, *, county_areas: bool) -> pd.DataFrame:
    """Earliest designation of every prefecture-level unit that is a pilot in any batch 1-7.

    The one source of pilot dates: the twin's world (:class:`cbec.data.twin.World`) and the
    analysis (:func:`pilot_cities`) both read them here.

    Parameters
    ----------
    areas
        The roster; default :func:`load_pilot_areas`.
    county_areas
        Whether a county-level area (Yiwu, Hunchun, Suifenhe, the Xiong'an New Area) makes
        the prefecture holding it a pilot.

    Returns
    -------
    pandas.DataFrame
        One row per unit, sorted by ``city_id``: ``city_id`` and ``batch`` (int64, the
        earliest batch), ``signed`` (datetime64; NaT for batch 6, whose signing day is
        unknown), ``date`` (the signing date, or the first posting where the signing day is
        unknown: 8 February 2022 for batch 6) and ``areas`` (area names joined by "; ").
    """
    areas = load_pilot_areas() if areas is None else areas
    df = areas.assign(date=_effective_dates(areas))
    if not county_areas:
        df = df[~df["area_type"].isin(SUB_PREFECTURE_TYPES)]
    df = df.sort_values(["city_id", "batch", "date", "area_zh"], kind="stable")
    grouped = df.groupby("city_id", sort=True)
    out = grouped.agg(batch=("batch", "first"), signed=("signed", "first"), date=("date", "first"))
    out["areas"] = grouped["area_zh"].agg("; ".join)
    out = out.reset_index()
    out["batch"] = out["batch"].astype("int64")
    return out[["city_id", "batch", "signed", "date", "areas"]]


# ============================================================================== universes
def _unit_span(cities: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """First and last year as a prefecture-level unit (Int64, NA: open) from UNIT_YEARS."""
    first = cities["city_id"].map({k: v[0] for k, v in UNIT_YEARS.items()}).astype("Int64")
    last = cities["city_id"].map({k: v[1] for k, v in UNIT_YEARS.items()}).astype("Int64")
    return first, last


def unit_exists(cities: pd.DataFrame, first_year: int, last_year: int) -> pd.Series:
    """Whether each registry unit was a prefecture-level unit in every year of a window.

    Parameters
    ----------
    cities
        Registry rows (needs ``city_id``).
    first_year, last_year
        The window, inclusive.

    Returns
    -------
    pandas.Series
        Boolean, aligned to ``cities``. Uses :data:`UNIT_YEARS` (units created or abolished
        after 2004); a unit converted from a 地区, 盟 or 自治州 counts as existing.
    """
    first, last = _unit_span(cities)
    ok = (first.isna() | (first <= first_year)) & (last.isna() | (last >= last_year))
    return ok.fillna(False).astype(bool)


def _existence_reason(cities: pd.DataFrame, first_year: int, last_year: int) -> pd.Series:
    """Audit text for units that did not exist throughout the window ("" otherwise)."""
    first, last = _unit_span(cities)
    window = f"{first_year}-{last_year}"
    reason = pd.Series("", index=cities.index, dtype="string")
    late = first.notna() & (first > first_year)
    early = last.notna() & (last < last_year)
    reason[late.fillna(False)] = (
        "a prefecture-level unit only from "
        + first[late.fillna(False)].astype("string")
        + f", not throughout {window}"
    )
    reason[early.fillna(False)] = (
        "a prefecture-level unit only up to "
        + last[early.fillna(False)].astype("string")
        + f" (abolished or merged), not throughout {window}"
    )
    return reason


def paper254_candidates(
    cities: pd.DataFrame | None = None,
    areas: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The paper254 rule, step by step: pilots, control candidates and their ranking.

    The paper lists neither its 254 cities nor a rule for its 199 non-pilot cities. Ours:

    1. **Pilots (55) [paper]:** the prefecture-level pilots of batches 1-4 with the
       county-level areas (Yiwu, Hunchun, Suifenhe) dropped and Haidong dropped for missing
       data.
    2. **Control candidates:** every other registry unit of level ``prefecture_city`` or
       ``municipality`` that was a prefecture-level *city* in every year 2010-2019 (no
       ``city_since`` after 2010, not abolished: this removes the autonomous prefectures,
       leagues and 地区, the cities converted after 2010 such as Bijie or Hami, Sansha,
       Danzhou, Laiwu and Chaohu). With the pilots this is the balanced 2010-2019 panel
       of 285 prefecture-level-and-above cities common in city-level studies; 230
       candidates.
    3. **Cut to 199 by distance:** rank the candidates by great-circle distance from
       their seat to the nearest of the 55 pilots (ties by ``city_id``) and keep the 199
       nearest. Cities far from every pilot contribute only pairs with negligible
       gravity ties, which the paper's median tie cut removes anyway, and they lie in
       the periphery where yearbook series are most often incomplete. The 31 cut run
       from Bazhong (257 km) to Karamay (1,906 km); the last city kept, Shiyan, is 256.9 km
       from its nearest pilot, Xi'an. Distances are spherical
       (:func:`cbec.data.geo.haversine_km`).

    The rule uses only the committed registry and roster, so a reader can check it in a
    few lines. It does not depend on the ``Spec``: the list is fixed. Caveat: it chooses
    controls by their distance to pilots; ``universe="all"`` is the check on that choice.

    Parameters
    ----------
    cities, areas
        Registry and roster; default :func:`load_cities` and :func:`load_pilot_areas`.

    Returns
    -------
    pandas.DataFrame
        One row per registry unit, sorted by ``city_id``: ``city_id``, ``role``
        (``"pilot"``, ``"control"`` or ``"excluded"``), ``nearest_pilot_km`` (float;
        candidates only), ``distance_rank`` (Int64, 1 = nearest; candidates only) and
        ``reason`` (why an excluded unit is out; "" otherwise).
    """
    from cbec.spec import Spec

    cities = load_cities() if cities is None else cities
    areas = load_pilot_areas() if areas is None else areas
    paper_spec = Spec(county_pilot_rule="drop", last_batch=PAPER_LAST_BATCH)
    pc = pilot_cities(paper_spec, cities, areas)
    first, last = PAPER_WINDOW
    window = f"{first}-{last}"
    pilots = set(pc.loc[pc["in_window_batch"], "city_id"]) - set(PAPER_DROPPED_PILOTS)

    out = cities[["city_id"]].copy()
    out["role"] = "excluded"
    out["reason"] = ""
    is_city = cities["level"].isin(["prefecture_city", "municipality"])
    since = cities["city_since"]
    city_all_window = is_city & (since.isna() | (since <= first)).astype(bool)
    city_all_window &= unit_exists(cities, first, last)
    is_pilot = cities["city_id"].isin(pilots)
    candidate = city_all_window & ~is_pilot & ~cities["city_id"].isin(PAPER_DROPPED_PILOTS)

    # reasons, first applicable wins (written in reverse order of priority)
    out.loc[~candidate & ~is_pilot & ~is_city, "reason"] = (
        "level " + cities["level"] + ": the paper's sample holds prefecture-level cities only"
    )
    not_yet = is_city & since.notna().astype(bool) & (since > first).fillna(False).astype(bool)
    out.loc[not_yet, "reason"] = (
        "prefecture-level city only from " + since.astype("string") + f", not throughout {window}"
    )
    gone = is_city & ~unit_exists(cities, first, last)
    out.loc[gone, "reason"] = _existence_reason(cities, first, last)[gone]
    dropped = cities["city_id"].isin(PAPER_DROPPED_PILOTS)
    out.loc[dropped, "reason"] = (
        f"pilot of batch <= {PAPER_LAST_BATCH} dropped for missing data [paper]"
    )
    out.loc[is_pilot, "role"] = "pilot"
    out.loc[is_pilot, "reason"] = ""

    # distance of each candidate to its nearest pilot
    pil = cities[is_pilot]
    cand = cities[candidate]
    dist = haversine_km(
        cand["lon"].to_numpy()[:, None],
        cand["lat"].to_numpy()[:, None],
        pil["lon"].to_numpy()[None, :],
        pil["lat"].to_numpy()[None, :],
    )
    nearest = pd.Series(dist.min(axis=1), index=cand.index)
    order = pd.DataFrame({"km": nearest, "city_id": cand["city_id"]}).sort_values(
        ["km", "city_id"], kind="stable"
    )
    rank = pd.Series(np.arange(1, len(order) + 1), index=order.index)
    out["nearest_pilot_km"] = nearest.reindex(out.index)
    out["distance_rank"] = rank.reindex(out.index).astype("Int64")
    keep = candidate & (out["distance_rank"] <= PAPER_N_CONTROLS).fillna(False).astype(bool)
    out.loc[keep, "role"] = "control"
    cut = candidate & ~keep
    out.loc[cut, "reason"] = (
        "control candidate ranked "
        + out.loc[cut, "distance_rank"].astype("string")
        + f" of {int(candidate.sum())} by distance to the nearest pilot ("
        + out.loc[cut, "nearest_pilot_km"].round(0).astype(int).astype("string")
        + f" km); paper254 keeps the nearest {PAPER_N_CONTROLS}"
    )
    if (out["role"] == "pilot").sum() != PAPER_N_PILOTS or (
        out["role"] == "control"
    ).sum() != PAPER_N_CONTROLS:
        raise ValueError(
            f"paper254 rule gave {(out['role'] == 'pilot').sum()} pilots and "
            f"{(out['role'] == 'control').sum()} controls, expected {PAPER_N_PILOTS} and "
            f"{PAPER_N_CONTROLS}: the reference tables changed"
        )
    out = out.sort_values("city_id").reset_index(drop=True)
    return out[["city_id", "role", "nearest_pilot_km", "distance_rank", "reason"]]


#: Reason code (:data:`cbec.audit.REASONS`) of each universe reason text, by its opening words.
_REASON_CODES: tuple[tuple[str, str], ...] = (
    ("level ", "not_prefecture_city"),
    ("prefecture-level city only from", "not_city_throughout"),
    ("a prefecture-level unit only", "not_unit_throughout"),
    ("pilot of batch", "paper_dropped_pilot"),
    ("control candidate ranked", "distance_cut"),
    ("no data in the user panel", "no_data_in_panel"),
    ("not a prefecture-level unit in the registry", "not_in_registry"),
)


def _reason_code(text: str) -> str:
    for start, code in _REASON_CODES:
        if str(text).startswith(start):
            return code
    raise ValueError(f"universe reason without a code: {text!r}")


def _audit(cities: pd.DataFrame, ids: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    names = cities.set_index("city_id")["name_pinyin"]
    texts = [str(r) for r in reasons.to_numpy()]
    out = pd.DataFrame(
        {
            "stage": "universe",
            "reason": [_reason_code(t) for t in texts],
            "city_id": ids.to_numpy(),
            "city": ids.map(names).fillna("").to_numpy(),
            "file": _AUDIT_SOURCE,
            "message": texts,
        }
    )
    return _audit_mod.concat([out])


def select_universe(
    spec: Spec,
    available: set[int] | None = None,
    *,
    cities: pd.DataFrame | None = None,
    areas: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's cities with pilot status, and an audit of every registry unit left out.

    Parameters
    ----------
    spec
        Uses ``universe``, ``first_year``, ``last_year``, ``last_batch``,
        ``treat_year_rule`` and ``county_pilot_rule``.
    available
        Real profile: the city ids with data in the user's panel. Registry units outside it
        are excluded with reason "no data in the user panel"; ids not in the registry get
        an audit row too. ``None`` (twin): every unit the rule selects.
    cities, areas
        Registry and roster; default :func:`load_cities` and :func:`load_pilot_areas`.

    Returns
    -------
    universe : pandas.DataFrame
        The registry rows of the study's cities (columns :data:`CITY_COLUMNS`) plus
        ``pilot`` (bool: a pilot of a batch <= ``spec.last_batch``), ``batch`` (Int64,
        earliest batch 1-7; NA if never a pilot), ``treat_year`` (Int64; NA unless
        ``pilot``; it can fall after ``last_year``, e.g. batch 4 under ``"first_full"``)
        and ``later_batch`` (Int64: the batch when the city becomes a pilot only after
        ``spec.last_batch``; else NA). Sorted by ``city_id``.
    audit : pandas.DataFrame
        Columns :data:`cbec.audit.COLUMNS`, one row per excluded unit (stage "universe", a reason
        code, the readable text in ``message``, ``file`` "reference").

    Notes
    -----
    ``universe="all"``: every prefecture-level unit of any level that existed as one in
    every year ``first_year..last_year`` (:func:`unit_exists`); with ``available`` given,
    every registry unit with data instead (the yearbook loader checks the years).

    ``universe="paper254"``: the fixed list of :func:`paper254_candidates` (55 pilots, 199
    controls). Under ``county_pilot_rule="map_to_prefecture"`` the prefectures of the
    paper's dropped county-level pilots (Jinhua for Yiwu, Yanbian for Hunchun, Mudanjiang
    for Suifenhe) become pilots; those outside the 254 (Yanbian, an autonomous
    prefecture) are added, so the universe grows beyond 254 and the pilot count beyond 55.
    """
    cities = load_cities() if cities is None else cities
    areas = load_pilot_areas() if areas is None else areas
    pc = pilot_cities(spec, cities, areas).set_index("city_id")

    if spec.universe == "all":
        exists = unit_exists(cities, spec.first_year, spec.last_year)
        keep = exists.copy() if available is None else pd.Series(True, index=cities.index)
        reason = _existence_reason(cities, spec.first_year, spec.last_year)
    elif spec.universe == "paper254":
        rule = (
            paper254_candidates(cities, areas)
            .set_index("city_id")
            .reindex(cities["city_id"])
            .set_axis(cities.index)
        )
        keep = rule["role"].isin(["pilot", "control"])
        reason = rule["reason"].astype("string")
        if spec.county_pilot_rule == "map_to_prefecture":
            mapped = areas[
                areas["area_type"].isin(SUB_PREFECTURE_TYPES) & (areas["batch"] <= PAPER_LAST_BATCH)
            ]["city_id"]
            added = cities["city_id"].isin(mapped) & ~keep
            keep = keep | added
    else:  # Spec validates, but a hand-made object might not
        raise ValueError(f"select_universe: unknown universe {spec.universe!r}")

    keep = keep.astype(bool)
    if available is not None:
        avail = {int(a) for a in available}
        has = cities["city_id"].isin(avail)
        reason[keep & ~has] = "no data in the user panel"
        keep = keep & has

    universe = cities[keep].copy()
    batch = universe["city_id"].map(pc["batch"]).astype("Int64")
    tyear = universe["city_id"].map(pc["treat_year"]).astype("Int64")
    pilot = (batch <= spec.last_batch).fillna(False).astype(bool)
    universe["pilot"] = pilot
    universe["batch"] = batch
    universe["treat_year"] = tyear.where(pilot, pd.NA)
    universe["later_batch"] = batch.where(~pilot, pd.NA).astype("Int64")
    universe = universe.sort_values("city_id").reset_index(drop=True)

    excluded = cities[~keep]
    audit = _audit(cities, excluded["city_id"], reason[~keep])
    if available is not None:
        strangers = sorted(set(avail) - set(cities["city_id"]))
        if strangers:
            extra = _audit(
                cities,
                pd.Series(strangers, dtype="int64"),
                pd.Series(["not a prefecture-level unit in the registry"] * len(strangers)),
            )
            audit = pd.concat([audit, extra], ignore_index=True)
    return universe, audit.reset_index(drop=True)


def city_names(cities: pd.DataFrame | None = None) -> dict[int, str]:
    """Pinyin labels for figures: ``{city_id: name_pinyin}``."""
    cities = load_cities() if cities is None else cities
    return dict(zip(cities["city_id"].astype(int), cities["name_pinyin"].astype(str), strict=True))


__all__ = [
    "AREA_COLUMNS",
    "CITY_COLUMNS",
    "PAPER_N_CITIES",
    "PAPER_N_CONTROLS",
    "PAPER_N_PILOTS",
    "PREFECTURE_LEVELS",
    "SUB_PREFECTURE_TYPES",
    "TREAT_YEAR_RULES",
    "UNIT_YEARS",
    "city_names",
    "designation_dates",
    "load_cities",
    "load_pilot_areas",
    "paper254_candidates",
    "pilot_cities",
    "reference_dir",
    "select_universe",
    "treatment_year",
    "unit_exists",
]
