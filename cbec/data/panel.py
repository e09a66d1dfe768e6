"""The city-year schema shared by the synthetic twin and the yearbook loader.

Both data profiles produce a :class:`CityPanel`: a long city-year frame with the canonical
variable names of :data:`VARIABLES`, an audit of everything excluded, and the list of
variables the source does not have. Everything downstream (measures, pairs, estimators)
reads only this schema, so the notebooks run unchanged on either profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cbec import audit as _audit


@dataclass(frozen=True)
class Variable:
    """One canonical city-year variable."""

    name: str
    unit: str
    label: str
    role: str  # "index" (one of the nine), "base", "covariate", "mechanism"


#: Canonical city-year variables. ``role="index"`` are the paper's nine indicators.
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("gdp_pc", "yuan, 2010 prices", "Real GDP per capita", "index"),
        Variable("gdp_growth", "percent", "Real GDP growth", "index"),
        Variable("fai_pc", "yuan", "Fixed-asset investment per capita", "index"),
        Variable("service_share", "percent of GDP", "Tertiary-sector share of GDP", "index"),
        Variable("fdi_pc", "US dollars", "Actually used FDI per capita", "index"),
        Variable("industrial_output", "100 million yuan", "Above-scale industrial output", "index"),
        Variable("retail_pc", "yuan", "Retail sales of consumer goods per capita", "index"),
        Variable("savings_pc", "yuan", "Household savings deposits per capita", "index"),
        Variable("wage", "yuan", "Average wage of employees", "index"),
        Variable("pop", "10,000 persons", "Resident population", "base"),
        Variable("land_area", "km2", "Administrative land area", "base"),
        Variable("gdp", "100 million yuan, 2010 prices", "Real GDP", "base"),
        Variable("gdp_nominal", "100 million yuan", "Nominal GDP", "base"),
        Variable("secondary_share", "percent of GDP", "Secondary-sector share of GDP", "covariate"),
        Variable(
            "human_capital",
            "students per 10,000",
            "College students per 10,000 persons",
            "covariate",
        ),
        Variable("fin_dev", "ratio", "Loans plus deposits over GDP", "covariate"),
        Variable(
            "info_infra",
            "per 100 persons",
            "Internet broadband subscribers per 100 persons",
            "covariate",
        ),
        Variable(
            "inst_innov",
            "count",
            "Cross-border e-commerce institutional innovations adopted",
            "mechanism",
        ),
        Variable(
            "misallocation", "index", "Capital misallocation index (0 = efficient)", "mechanism"
        ),
    )
}

#: Columns every CityPanel frame has, whatever its source.
KEY_COLUMNS: tuple[str, ...] = ("city_id", "year")

#: Columns of every audit table (one schema for every producer: :data:`cbec.audit.COLUMNS`).
AUDIT_COLUMNS: tuple[str, ...] = _audit.COLUMNS


def empty_audit() -> pd.DataFrame:
    """An audit table with no rows and the standard columns (:func:`cbec.audit.empty`)."""
    return _audit.empty()


@dataclass
class CityPanel:
    """A city-year panel in the canonical schema.

    Attributes
    ----------
    data
        One row per city-year: ``city_id`` (int, 6-digit administrative code of the
        prefecture-level unit), ``year`` (int) and any of :data:`VARIABLES`.
    profile
        ``"twin"`` or ``"real"``.
    audit
        Every excluded city, city-year or value with its reason (columns
        :data:`AUDIT_COLUMNS`). Nothing leaves the data without a row here.
    unavailable
        Canonical variables the source does not provide. Downstream code reports them as
        unavailable; it never invents them.
    counterfactual
        Twin only: the same panel in the world without the policy, generated from the same
        shocks. Measures computed on it give the untreated potential outcome.
    meta
        Free-form facts about the source (files read, twin parameters, true effects).
    """

    data: pd.DataFrame
    profile: str
    audit: pd.DataFrame = field(default_factory=empty_audit)
    unavailable: tuple[str, ...] = ()
    counterfactual: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in KEY_COLUMNS if c not in self.data.columns]
        if missing:
            raise ValueError(f"CityPanel.data lacks key columns {missing}")
        dup = self.data.duplicated(list(KEY_COLUMNS))
        if dup.any():
            first = self.data.loc[dup, list(KEY_COLUMNS)].iloc[0].tolist()
            raise ValueError(f"CityPanel.data has duplicate city-years, first {first}")
        unknown = [c for c in self.data.columns if c not in KEY_COLUMNS and c not in VARIABLES]
        if unknown:
            raise ValueError(f"CityPanel.data has non-canonical columns {unknown}")

    @property
    def cities(self) -> list[int]:
        """Sorted city codes present in the panel."""
        return sorted(self.data["city_id"].unique().tolist())

    @property
    def variables(self) -> list[str]:
        """Canonical variables present in the panel."""
        return [c for c in self.data.columns if c in VARIABLES]
