"""Range checks of the derived canonical variables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cbec.data.yearbook.headers import (
    RANGES,
)
from cbec.data.yearbook.rules import (
    _Audit,
)


def _validate(w: pd.DataFrame, names: Mapping[int, str], audit: _Audit) -> pd.DataFrame:
    """Set derived values outside :data:`RANGES` missing, one audit row each."""
    for name, (lo, hi, excl) in RANGES.items():
        if name not in w:
            continue
        v = w[name].to_numpy(float)
        bad = np.isfinite(v) & ((v < lo) | (v > hi) | ((v == lo) & excl))
        for k in np.flatnonzero(bad):
            cid, yr = int(w["city_id"].iloc[k]), int(w["year"].iloc[k])
            rng = f"{'(' if excl else '['}{lo:g}, {hi:g}]"
            msg = (
                f"derived {name} of {names.get(cid, cid)} ({cid}) in {yr}: value "
                f"{v[k]:g} outside {rng}"
            )
            audit.add(
                "out_of_range",
                msg + "; set missing",
                city_id=cid,
                city=names.get(cid),
                year=yr,
                variable=name,
                value=f"{v[k]:g}",
                rule=f"valid range {rng} of the derived variable",
            )
        if bad.any():
            w.loc[bad, name] = np.nan
    return w
