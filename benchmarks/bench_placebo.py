"""Benchmark of the placebo engine at the paper's size.

Builds a balanced pair-year panel of 15,323 pairs x 10 years (153,230 rows) from 254
cities with 55 pilots adopting in 2015, 2016, 2018 and 2019 (the test generator,
``cbec.testing.pairdata``, fixed seed), then times

* ``placebo_did`` (Frisch-Waugh-Lovell, closed-form demeaning) for ``--draws`` draws, and
* ``placebo_naive`` (one pyfixest ``feols`` per draw) for ``--naive`` draws, extrapolated
  per draw to ``--draws``,

checks that both give the same coefficients on the shared draws, and prints both times,
the per-draw times, the ratio and the peak resident memory (``resource.getrusage``).

Run: ``python benchmarks/bench_placebo.py [--draws 1000] [--naive 5]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from cbec.estimators.placebo import placebo_did, placebo_naive
from cbec.testing.pairdata import make_pair_panel


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000, help="fast draws (default 1000)")
    ap.add_argument("--naive", type=int, default=5, help="naive draws (default 5)")
    ap.add_argument("--seed", type=int, default=20230221)
    ap.add_argument(
        "--block", action="store_true", help="also time the (n x B) block engine on all draws"
    )
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = make_pair_panel(
        n_cities=254,
        years=range(2010, 2020),
        n_pilots=55,
        adopt_years=(2015, 2016, 2018, 2019),
        n_pairs=15_323,
        seed=args.seed,
    )
    df, controls = data.df, list(data.controls)
    print(
        f"panel: {df.shape[0]:,} rows = {df['pair_id'].nunique():,} pairs x "
        f"{df['year'].nunique()} years, {len(data.cities)} cities, {len(data.pilots)} pilots, "
        f"{len(controls)} controls (built in {time.perf_counter() - t0:.1f} s); "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )

    kw = dict(pilots=data.pilots, cities=data.cities)
    t0 = time.perf_counter()
    fast = placebo_did(df, "syn", controls, args.draws, args.seed, progress=True, **kw)
    t_fast = time.perf_counter() - t0
    rss_fast = peak_rss_mb()

    if args.block:
        t0 = time.perf_counter()
        blk = placebo_did(
            df, "syn", controls, args.draws, args.seed, engine="block", progress=False, **kw
        )
        t_blk = time.perf_counter() - t0
        print(
            f"block ({blk.method}): {args.draws} draws in {t_blk:.2f} s, "
            f"{t_blk / args.draws * 1e3:.2f} ms/draw; max |pairsum - block| "
            f"{np.max(np.abs(blk.draws - fast.draws)):.2e}; peak RSS {peak_rss_mb():.0f} MB"
        )

    t0 = time.perf_counter()
    naive = placebo_naive(df, "syn", controls, args.naive, args.seed, **kw)
    t_naive = time.perf_counter() - t0

    diff = np.max(np.abs(fast.draws[: args.naive] - naive.draws))
    per_fast = t_fast / args.draws
    per_naive = t_naive / args.naive
    print(
        f"fast  ({fast.method}): {args.draws} draws in {t_fast:.2f} s, {per_fast * 1e3:.2f} ms/draw"
    )
    print(
        f"naive ({naive.method}): {args.naive} draws in {t_naive:.2f} s, "
        f"{per_naive * 1e3:.1f} ms/draw -> {per_naive * args.draws:.1f} s extrapolated to "
        f"{args.draws} draws"
    )
    print(f"speed-up per draw: {per_naive / per_fast:.0f}x")
    print(f"max |fast - naive| on the shared draws: {diff:.2e}; actual coef {fast.actual:.6f}")
    print(f"placebo p-value {fast.p_value:.4f} ({fast.n_valid} valid draws)")
    print(f"peak RSS: {rss_fast:.0f} MB after the fast engine, {peak_rss_mb():.0f} MB at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
