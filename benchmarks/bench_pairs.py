"""Benchmark: the full pair panel with every synchronization measure.

Builds (a) the paper's panel (254 cities, 2010-2019, median tie cut: 153,230 pair-years)
and (b) the full panel of every prefecture-level unit over 2005-2021 with no tie cut
(about 45,000 pairs and 750,000 pair-years), each with the baseline Cerqueira-Martins
outcome and the three alternative measures, and prints wall times and peak memory.

Run::

    .venv/bin/python benchmarks/bench_pairs.py

Target (issue 3): (b) in under 10 s on 2 cores and under 2 GB.
"""

from __future__ import annotations

import resource
import time

from cbec import Spec
from cbec.study.pipeline import alternative_outcome, build_study

MEASURES = ("kpp", "kpp_resid", "rolling_corr")


def run(label: str, spec: Spec) -> dict[str, float]:
    t0 = time.perf_counter()
    study = build_study(spec)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    for m in MEASURES:
        alternative_outcome(study, sync_measure=m)
    t_alt = time.perf_counter() - t1
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<44s} cities {len(study.universe):>4d}  pairs {study.panel['pair_id'].nunique():>6,d}"
        f"  pair-years {len(study.panel):>8,d}  build {t_build:5.2f} s  + 3 measures {t_alt:5.2f} s"
        f"  = {total:5.2f} s  peak RSS {peak_mb:,.0f} MB",
        flush=True,
    )
    for step, sec in study.timings.items():
        print(f"    {step:<26s} {sec:6.2f} s")
    return {"build": t_build, "alt": t_alt, "total": total, "peak_mb": peak_mb}


def main() -> None:
    # warm-up: imports and first-call costs do not belong to the pipeline
    build_study(Spec(first_year=2010, last_year=2012))
    paper = run("paper: 254 cities, 2010-2019, median cut", Spec())
    full = run(
        "full: all units, 2005-2021, no cut",
        Spec(
            universe="all", sim_first_year=2001, first_year=2005, last_year=2021, tie_quantile=0.0
        ),
    )
    ratio = full["total"] / paper["total"]
    print(f"full / paper wall-time ratio: {ratio:.2f}")
    ok = full["total"] < 10 and full["peak_mb"] < 2048
    print("target (< 10 s, < 2 GB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
