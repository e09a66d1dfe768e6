"""Exposure mapping: which control pairs the pilots may have reached through their ties.

A control pair joins two non-pilot cities, but either city may be tied to a pilot; if the
policy spreads along ties (the paper's "window radiation"), such a pair is partly treated
and a DID that uses it as a control is biased toward zero (the stable-unit assumption
fails; Aronow & Samii 2017 call the map from assignments to treatments an *exposure
mapping*). Here exposure is built from observables only, so the same rule runs on the real
panel:

* every non-pilot city has a strongest tie to a pilot (the gravity tie score of the
  sample filter, :func:`cbec.study.pairs.tie_scores`); the cut is the ``quantile`` of these
  strongest ties across non-pilot cities (default the median: half the non-pilot cities
  can be exposed);
* a non-pilot city is *exposed* from year ``g`` when its tie to some pilot designated in
  ``g`` lies above the cut; it takes the earliest such ``g``;
* a control pair is *exposed* when at least one of its cities is, from the earlier of the
  two years; the others are *clean* controls.

Treated pairs, exposed controls and clean controls are the three groups of the
spillover-aware design (:attr:`cbec.spec.Spec.control_exposure`): the clean-control DID
compares treated pairs with clean controls only, and the spillover effect is the DID of
exposed controls against clean controls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns added to the pair-year panel by :func:`add_exposure`.
EXPOSURE_COLUMNS = ("exposed", "spill_year", "spill_post")


def city_exposure(pairs: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """Exposure year of every non-pilot city tied to a pilot above ``quantile``.

    Parameters
    ----------
    pairs
        Candidate pairs with ``tie``, ``treated``, ``pilot_city``, ``partner_city`` and
        ``treat_year`` (:func:`cbec.study.pairs.candidate_pairs` plus the tie score).
    quantile
        Quantile, across non-pilot cities, of each city's strongest tie to a pilot; ties to
        a pilot above it expose.

    Returns
    -------
    DataFrame
        ``city_id, exposure_year, n_pilots`` (pilots tied above the cut) for exposed cities.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"exposure quantile must lie in (0, 1), got {quantile}")
    for c in ("tie", "treated", "partner_city", "treat_year"):
        if c not in pairs.columns:
            raise KeyError(f"candidate pairs lack column {c!r}")
    tp = pairs[(pairs["treated"] == 1) & pairs["treat_year"].notna()]
    if tp.empty:
        raise ValueError("no treated pairs: exposure to pilots is undefined")
    cut = float(np.quantile(tp.groupby("partner_city")["tie"].max().to_numpy(), quantile))
    strong = tp[tp["tie"] > cut]
    out = (
        strong.groupby("partner_city")
        .agg(exposure_year=("treat_year", "min"), n_pilots=("treat_year", "size"))
        .reset_index()
        .rename(columns={"partner_city": "city_id"})
    )
    out["city_id"] = out["city_id"].astype(np.int64)
    out["exposure_year"] = out["exposure_year"].astype(int)
    return out


def add_exposure(panel: pd.DataFrame, pairs: pd.DataFrame, quantile: float) -> pd.DataFrame:
    """Add ``exposed`` (0/1), ``spill_year`` and ``spill_post`` (0/1) to the pair-year panel.

    Only control pairs can be exposed; ``spill_post`` is one for an exposed control pair
    from its ``spill_year`` on. The panel is returned as a new frame.
    """
    ex = city_exposure(pairs, quantile).set_index("city_id")["exposure_year"]
    yi = panel["city_i"].map(ex).to_numpy(dtype=float)
    yj = panel["city_j"].map(ex).to_numpy(dtype=float)
    year = np.fmin(yi, yj)
    control = panel["treated"].to_numpy() == 0
    year = np.where(control, year, np.nan)
    out = panel.copy()
    out["exposed"] = np.isfinite(year).astype(np.int8)
    out["spill_year"] = year
    with np.errstate(invalid="ignore"):
        out["spill_post"] = (out["year"].to_numpy() >= year).astype(np.int8)
    return out
