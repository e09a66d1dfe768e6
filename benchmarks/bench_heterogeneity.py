"""Benchmark of the group-label permutation test of chapter 4 at the paper's size.

Builds the twin's study (153,230 pair-years, 6,465 treated pairs, four dimensions: 9 regional
groups and three median splits), then times

* ``permutation_test`` (per-group sums of the FWL normal equations) for ``--draws`` draws,
  every dimension at once, and
* ``permutation_naive`` (one pyfixest ``feols`` per draw and dimension) for ``--naive``
  draws, extrapolated per draw to ``--draws``,

checks that both give the same F statistics on the shared draws, and prints wall and CPU
times, the per-draw times, the ratio and the peak resident memory. CPU time is printed too
because the machine may be shared: the ratio of CPU times is the fair comparison then.

Run: ``python benchmarks/bench_heterogeneity.py [--draws 1000] [--naive 3]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from cbec.analyses import heterogeneity as het
from cbec.spec import Spec
from cbec.study.pipeline import build_study


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, *args, **kw):
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000, help="fast draws (default 1000)")
    ap.add_argument("--naive", type=int, default=3, help="naive draws (default 3)")
    args = ap.parse_args(argv)

    study, w, _ = _timed(build_study, Spec())
    groups = het.group_labels(study)
    sizes = {d: int(groups.labels[d].nunique()) for d in groups.dimensions}
    print(
        f"study: {len(study.panel):,} pair-years, {len(groups.labels):,} treated pairs, "
        f"groups per dimension {sizes} (built in {w:.1f} s)"
    )
    fast, w_fast, c_fast = _timed(het.permutation_test, study, groups, args.draws, study.spec.seed)
    rss_fast = peak_rss_mb()
    naive, w_naive, c_naive = _timed(
        het.permutation_naive, study, groups, args.naive, study.spec.seed
    )
    diff = float(np.max(np.abs(fast.stats[: args.naive] - naive.stats)))
    # both engines also fit the observed labels once: count it as one more draw
    per_fast_w, per_fast_c = w_fast / (args.draws + 1), c_fast / (args.draws + 1)
    per_naive_w, per_naive_c = w_naive / (args.naive + 1), c_naive / (args.naive + 1)
    print(
        f"fast ({fast.method}): {args.draws:,} draws x {len(groups.dimensions)} dimensions in "
        f"{w_fast:.2f} s wall / {c_fast:.2f} s CPU ({per_fast_w * 1e3:.2f} ms/draw wall); "
        f"peak RSS {rss_fast:.0f} MB"
    )
    print(
        f"naive ({naive.method}): {args.naive} draws in {w_naive:.2f} s wall / {c_naive:.2f} s "
        f"CPU ({per_naive_w:.2f} s/draw); {args.draws:,} draws would take "
        f"{per_naive_w * args.draws / 60:.1f} min wall"
    )
    print(
        f"ratio naive/fast per draw: {per_naive_w / per_fast_w:,.0f}x wall, "
        f"{per_naive_c / per_fast_c:,.0f}x CPU; max |F_fast - F_naive| on shared draws {diff:.1e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
