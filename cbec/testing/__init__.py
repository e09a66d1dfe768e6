"""Generators of synthetic test data, for the tests, the benchmarks and the Monte Carlo study.

``pairdata.make_pair_panel``
    A small city-pair x year panel with a known DID effect (staggered pilots, pair and year
    effects, optional shared-city shocks).
``esdata.make_es_panel``
    A pair-year panel with known event-time effects for the event study.
``messy``
    Messy yearbook files (GBK CSV, merged-header workbooks, wide sheets) with known values,
    and a stand-in city registry.

They import nothing else from :mod:`cbec` (layer ``testing``, rank 0), so any layer may use
them.
"""
