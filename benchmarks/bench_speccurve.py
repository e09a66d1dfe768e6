"""Benchmark of the specification curve (chapter 9).

Prints, from one run in one process: the time of the full curve (every declared choice, every
panel) split into building panels, computing outcomes and fitting; the time per
specification; the joint permutation test's time per reassignment; and, for the ratio, the
time of one direct refit (``build_study`` + ``fit_twfe`` with dyadic errors) of a single
specification, as a naive curve would do for each.

    .venv/bin/python benchmarks/bench_speccurve.py [--draws 500] [--fast]
"""

from __future__ import annotations

import argparse
import time
import warnings

from cbec import Spec
from cbec.analyses import speccurve
from cbec.estimators import fe
from cbec.study.pipeline import build_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=500, help="reassignments of the joint test")
    ap.add_argument("--fast", action="store_true", help="4 panels instead of all")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    base = Spec()

    t0 = time.perf_counter()
    study = build_study(base)
    fe.fit_twfe(study.panel, controls=base.controls, vcov="dyadic")
    naive = time.perf_counter() - t0

    curve = speccurve.run_curve(base, max_panels=4 if args.fast else None)
    tm = curve.timings
    n = len(curve.table)
    print(f"curve: {curve.n_combinations:,} combinations -> {n:,} distinct specifications")
    print(
        f"  total {tm['total']:.1f} s = panels {tm['panels']:.1f} s ({100 * tm['panels'] / tm['total']:.0f}%)"
        f" + outcomes {tm['outcomes']:.1f} s ({100 * tm['outcomes'] / tm['total']:.0f}%)"
        f" + fits {tm['fits']:.1f} s ({100 * tm['fits'] / tm['total']:.0f}%)"
    )
    print(
        f"  {1000 * tm['total'] / n:.1f} ms per specification (fits alone {1000 * tm['fits'] / n:.2f} ms)"
    )
    print(f"  one naive refit (build_study + fit_twfe, dyadic): {naive:.2f} s")
    print(f"  ratio naive / curve per specification: {naive / (tm['total'] / n):.0f}x")

    jt = speccurve.joint_test(curve, n_draws=args.draws, cluster="dyadic")
    per = jt.seconds / args.draws
    print(
        f"joint test: {args.draws} reassignments x {jt.n_specs:,} specifications in {jt.seconds:.1f} s"
        f" ({1000 * per:.1f} ms per reassignment of the whole curve;"
        f" {1e6 * per / jt.n_specs:.1f} us per specification and draw)"
    )
    print(f"  p(median) = {jt.p_median:.3f}, p(share significant) = {jt.p_share:.3f}")


if __name__ == "__main__":
    main()
