"""Benchmark of the chapter 2-3 engines at the paper's size, as ratios from one run.

On the default twin (``Spec(fast=True)``: 153,230 pair-years) it times, using process CPU
time (``time.process_time``, so that a loaded machine distorts the ratios less):

* the DID with controls: ``decomposition.fwl_did`` (numpy FWL) against ``fe.fit_twfe``
  (pyfixest), after one warm-up fit;
* the exact decomposition ``decompose_twfe``;
* the wild cluster bootstrap by city, 999 Rademacher draws with the inverted interval
  (``bootstrap.bootstrap_did``), against ``wildboottest`` on the same residualised problem;
* leave-one-pilot-out: ``placebo.PairDropFWL`` for every pilot against refitting with
  ``fit_twfe`` for ``--refits`` pilots (extrapolated);
* the stratified placebo, ``--draws`` draws, per draw against one ``fit_twfe`` per draw.

Run: ``python benchmarks/bench_designs.py [--draws 200] [--refits 3]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def clock(fn, *args, **kw):
    """(result, CPU seconds) of one call."""
    t0 = time.process_time()
    out = fn(*args, **kw)
    return out, time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--refits", type=int, default=3)
    args = ap.parse_args(argv)

    from wildboottest.wildboottest import WildboottestCL

    from cbec import Spec
    from cbec.estimators import bootstrap, decomposition, placebo
    from cbec.estimators.fe import fit_twfe
    from cbec.study.pipeline import build_study

    study, t_build = clock(build_study, Spec(fast=True))
    p, ctrl = study.panel, study.spec.controls
    fit_twfe(p, controls=ctrl)  # warm-up (numba compilation)
    fit, t_pf = clock(fit_twfe, p, controls=ctrl, vcov="pilot_city")
    fast, t_np = clock(decomposition.fwl_did, p, "syn", "did", ctrl, vcov="pilot_city")
    assert abs(fast["coef"] - float(fit.coef["did"])) < 1e-10
    print(f"build_study                {t_build:7.2f} s")
    print(
        f"DID fit: pyfixest          {t_pf:7.3f} s   numpy FWL {t_np:7.3f} s   ratio {t_pf / t_np:6.1f}x"
    )
    _, t_dec = clock(decomposition.decompose_twfe, p)
    print(f"decompose_twfe             {t_dec:7.3f} s")

    res, t_boot = clock(bootstrap.bootstrap_did, p, "syn", "did", ctrl, n_boot=999)
    yt, dt, _ = bootstrap.residualise(p, "syn", "did", ctrl)

    def ref():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = WildboottestCL(X=dt[:, None], Y=yt, cluster=p["cluster_city"].to_numpy(),
                                R=np.array([1.0]), B=999, seed=1, parallel=False)  # fmt: skip
            wb.get_scores(bootstrap_type="11", impose_null=True)
            wb.get_weights(weights_type="rademacher")
            wb.get_numer()
            wb.get_denom()
            wb.get_tboot()
            wb.get_vcov()
            wb.get_tstat()
            wb.get_pvalue()
        return wb

    ref()  # warm-up (numba)
    _, t_wb = clock(ref)
    print(f"wild bootstrap 999 draws   {t_boot:7.3f} s (with CI)   wildboottest {t_wb:7.3f} s "
          f"(p only)   ratio {t_wb / t_boot:6.1f}x")  # fmt: skip

    pilots = p.loc[p["treated"] == 1, "pilot_city"].unique()
    fwl, t_setup = clock(placebo.PairDropFWL, p, "syn", "did", ctrl)
    t0 = time.process_time()
    for c in pilots:
        fwl.coef(fwl.positions(p.loc[p["pilot_city"] == c, "pair_id"].unique()))
    t_loo = time.process_time() - t0 + t_setup
    t0 = time.process_time()
    for c in pilots[: args.refits]:
        fit_twfe(p[p["pilot_city"] != c], controls=ctrl)
    t_ref = (time.process_time() - t0) / args.refits * len(pilots)
    print(f"leave-one-pilot-out ({len(pilots)})  {t_loo:7.3f} s   refits (extrapolated) "
          f"{t_ref:7.2f} s   ratio {t_ref / t_loo:6.1f}x")  # fmt: skip

    uni = study.universe
    pil = uni.loc[uni["pilot"], ["city_id", "treat_year"]]
    _, t_st = clock(placebo.placebo_stratified, p, "syn", ctrl, args.draws, 1, pilots=pil,
                    universe=uni)  # fmt: skip
    per = t_st / args.draws
    print(f"stratified placebo          {t_st:7.2f} s for {args.draws} draws ({1000 * per:.1f} ms "
          f"a draw)   one pyfixest fit {t_pf:.3f} s   ratio {t_pf / per:6.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
