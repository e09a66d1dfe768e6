"""Reading, validating and auditing a user's yearbook-style city panel (the real profile).

A typical user holds a folder of spreadsheets compiled from the China City Statistical
Yearbooks: Chinese headers with units in brackets, title and advert rows, float years,
numbers stored as text, trailing ``Unnamed`` columns, cities named by their current or by a
historical name, sometimes by code. :func:`load_yearbook` turns such a folder into a
:class:`~cbec.data.panel.CityPanel` of canonical variables (:data:`cbec.data.panel.VARIABLES`):

1. :func:`read_table` reads each file (xlsx, or csv in UTF-8, UTF-8-SIG or GBK), finds the
   header row, recognises each column through :data:`HEADERS` and :func:`parse_header`,
   converts units to the canonical ones of :data:`INPUTS`, reads long tables (city-year
   rows) and wide ones (years as columns);
2. :func:`match_cities` maps names or codes to the registry's ``city_id`` across the
   historical renamings of ``data/reference/city_aliases.csv``;
3. the tables are merged (within a file duplicates are collapsed, across files one source
   per variable is primary and the others fill gaps), the canonical variables are derived
   from the raw inputs (real GDP chained from the price index, per-capita ratios, shares)
   and every value is checked against a plausible range.

Nothing leaves the data silently: every dropped row, cell, column, city, city-year or value
or is changed (set missing, replaced, filled from another file or derived another way) gets a
row in ``CityPanel.audit`` (columns :data:`cbec.audit.COLUMNS`), whose ``reason`` is a code of
:data:`REASONS`, with the file, sheet, Excel row and column, the values and the rule in their
own columns. :func:`audit_summary` counts them by code.

The package is split along the loader's steps: :mod:`~cbec.data.yearbook.rules` (constants,
reason codes, strict rules, the audit collector), :mod:`~cbec.data.yearbook.headers`
(quantities and header recognition), :mod:`~cbec.data.yearbook.read` (cells, grids, tables),
:mod:`~cbec.data.yearbook.match` (city names and codes), :mod:`~cbec.data.yearbook.derive`
(merging files, derived variables), :mod:`~cbec.data.yearbook.validate` (range checks) and
:mod:`~cbec.data.yearbook.load` (:func:`load_yearbook`).

Parsed workbooks are cached (openpyxl is slow): the cell grid of each xlsx file is pickled
under ``$CBEC_CACHE_DIR`` (default ``~/.cache/cbec``), in ``yearbook/``, keyed by the file's
path, size and modification time, so an edited file is read again.

Derivations follow the usual practice of the city-panel literature: real GDP at constant
prices is chained from the volume index with the previous year = 100 (the index the
statistical yearbooks publish; National Bureau of Statistics, *China Statistical Yearbook*,
explanatory notes on national accounts); financial development is loans plus deposits over
GDP, a city-level version of Goldsmith's (1969) financial interrelations ratio; FDI per
capita is actually used FDI in US dollars over resident population.
"""

from cbec.data.yearbook.derive import COMPANIONS
from cbec.data.yearbook.headers import (
    HEADERS,
    INPUTS,
    RANGES,
    UNIT_TOKENS,
    HeaderInfo,
    Quantity,
    parse_header,
)
from cbec.data.yearbook.load import audit_summary, data_fingerprint, load_yearbook
from cbec.data.yearbook.match import load_aliases, match_cities
from cbec.data.yearbook.read import MISSING_MARKERS, cache_dir, read_table
from cbec.data.yearbook.rules import (
    _ALIAS_KINDS,
    BASE_YEAR,
    CACHE_VERSION,
    ENV_CACHE_DIR,
    READ_SUFFIXES,
    REASONS,
    STRICT_REASONS,
    YearbookError,
)

__all__ = [
    "BASE_YEAR",
    "CACHE_VERSION",
    "COMPANIONS",
    "ENV_CACHE_DIR",
    "HEADERS",
    "INPUTS",
    "MISSING_MARKERS",
    "RANGES",
    "READ_SUFFIXES",
    "REASONS",
    "STRICT_REASONS",
    "UNIT_TOKENS",
    "HeaderInfo",
    "Quantity",
    "YearbookError",
    "_ALIAS_KINDS",
    "audit_summary",
    "cache_dir",
    "data_fingerprint",
    "load_aliases",
    "load_yearbook",
    "match_cities",
    "parse_header",
    "read_table",
]
