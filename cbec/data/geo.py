"""Distances and the gravity tie score.

Used by the pair builder (:mod:`cbec.study.pairs`) and by the synthetic twin, which lets the
policy travel along the same economic ties the paper filters on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Mean Earth radius in kilometres (IUGG).
EARTH_RADIUS_KM = 6371.0088


def haversine_km(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> NDArray[np.float64]:
    """Great-circle distance in kilometres between points given in degrees.

    Broadcasts like numpy; returns float64.
    """
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2.0) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def city_mass(
    pop: ArrayLike, gdp: ArrayLike, area: ArrayLike, rank: ArrayLike
) -> NDArray[np.float64]:
    """A city's gravity mass ``(P * G * S * A) ** (1/4)`` (the paper's tie score factor).

    Parameters
    ----------
    pop, gdp, area, rank
        Population, real GDP, land area and administrative rank (municipality 4,
        sub-provincial city 3, provincial capital 2, other 1). All must be positive.
    """
    parts = [np.asarray(a, dtype=float) for a in (pop, gdp, area, rank)]
    for name, arr in zip(("pop", "gdp", "area", "rank"), parts, strict=True):
        if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"city_mass needs positive finite {name}")
    # geometric mean of the four factors, computed in logs to avoid overflow
    return np.exp(sum(np.log(p) for p in parts) / 4.0)


def gravity_tie(mass_i: ArrayLike, mass_j: ArrayLike, dist_km: ArrayLike) -> NDArray[np.float64]:
    """Economic-tie score ``F_ij = m_i * m_j / D_ij ** 2``.

    Distances must be positive (two cities never share a seat).
    """
    d = np.asarray(dist_km, dtype=float)
    if np.any(d <= 0):
        raise ValueError("gravity_tie needs positive distances")
    return np.asarray(mass_i, dtype=float) * np.asarray(mass_j, dtype=float) / d**2
