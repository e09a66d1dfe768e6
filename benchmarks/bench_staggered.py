"""Benchmark of chapter 7's estimators on the paper-size and a 3x larger pair panel.

Panels (synthetic twin, default seed):

* ``paper``: ``Spec()``, 15,323 pairs x 10 years (153,230 pair-years);
* ``large``: ``Spec(universe="all", tie_quantile=0.0)``, every pair of the full city
  universe without pilot-pilot pairs (about 50,000 pairs).

Each estimator runs in its own child process: the child loads the panel from a Parquet
file, resets its peak-memory counter (Linux ``/proc/self/clear_refs``), reports its resident
memory then as ``baseline`` and its peak resident memory while the estimator runs as
``peak``: two-way FE (pyfixest, clustered
by pilot city), Goodman-Bacon, Callaway-Sant'Anna (diff-diff, and cbec's version with
influence functions plus its dyadic variance), Sun-Abraham, imputation (diff-diff, and
cbec's with influence functions), and one Rambachan-Roth relative-magnitudes set
(Mbar = 1, 1,000 grid points). pyfixest's ``did2s`` builds a dense rows x pair-dummies
matrix (memory grows with the square of the pairs), so it runs only on a small panel
(``--did2s-pairs``, default 1,500 pairs drawn from the paper panel) and, to show the
failure, on the paper panel, each under an address-space limit (``--did2s-limit-gb``) in
its child process.

The machine this was written on is shared; timings are wall-clock seconds of one run, as
measured, and move with the load. Run: ``python benchmarks/bench_staggered.py``
(``--sizes paper`` for the small panel only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ESTIMATORS = (
    "load only",
    "TWFE (pyfixest)",
    "Bacon (diff-diff)",
    "CS never-treated (diff-diff)",
    "CS never-treated + IFs (cbec)",
    "CS dyadic variance (cbec)",
    "Sun-Abraham (diff-diff)",
    "Imputation (diff-diff)",
    "Imputation + IFs (cbec)",
    "Rambachan-Roth RM, Mbar=1 (cbec)",
    "did2s (pyfixest)",
)


def _hwm_mb() -> float:
    """Peak resident memory of this process since the last reset (Linux VmHWM), in MB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_hwm() -> None:
    """Reset the peak-RSS counter (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _child(name: str, path: str, limit_gb: float) -> None:
    """Run one estimator on the panel in ``path`` and print a JSON line."""
    import numpy as np
    import pandas as pd

    if name == "did2s (pyfixest)" and limit_gb > 0:
        lim = int(limit_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    p = pd.read_parquet(path)
    import gc

    from cbec.estimators import fe, honest, influence, staggered

    gc.collect()
    _reset_hwm()
    base = _hwm_mb()  # resident memory after loading: the panel, pandas, the libraries
    t0 = time.perf_counter()
    status, value = "ok", float("nan")
    try:
        if name == "TWFE (pyfixest)":
            value = float(fe.fit_twfe(p, y="syn", treat="did", vcov="pilot_city").coef["did"])
        elif name == "Bacon (diff-diff)":
            value = staggered.bacon(p).twfe
        elif name == "CS never-treated (diff-diff)":
            value = staggered.cs_library(p).overall_att
        elif name == "CS never-treated + IFs (cbec)":
            value = staggered.cs_influence(p, window=(-5, 3)).estimates["overall"]
        elif name == "CS dyadic variance (cbec)":
            r = staggered.cs_influence(p, window=(-5, 3))
            t0 = time.perf_counter()  # the variance alone
            value = float(np.sqrt(influence.if_vcov(r.psi, r.units, "dyadic").iloc[0, 0]))
        elif name == "Sun-Abraham (diff-diff)":
            value = staggered.sun_abraham(p).overall_att
        elif name == "Imputation (diff-diff)":
            value = staggered.imputation_library(p).overall_att
        elif name == "Imputation + IFs (cbec)":
            value = staggered.imputation_influence(p, window=(0, 3)).estimates["overall"]
        elif name == "Rambachan-Roth RM, Mbar=1 (cbec)":
            r = staggered.cs_influence(p, window=(-5, 3), base_period="universal")
            cols = [c for c in r.psi.columns if c.startswith("e=")]
            cols = [c for c in cols if -5 <= int(c[2:]) <= 3 and int(c[2:]) != -1]
            npre = sum(int(c[2:]) < 0 for c in cols)
            b = r.estimates[cols].to_numpy()
            s = np.asarray(influence.if_vcov(r.psi[cols], r.units, "pilot_city"))
            t0 = time.perf_counter()
            value = honest.rm_confidence_set(b, s, npre, len(cols) - npre, 1.0).lb
        elif name == "did2s (pyfixest)":
            import pyfixest as pf

            d = p.assign(did=p["did"].astype(float))
            fit = pf.did2s(d, yname="syn", first_stage="~ 0 | pair_id + year",
                           second_stage="~ did", treatment="did", cluster="pair_id")  # fmt: skip
            value = float(fit.coef().iloc[0])
    except MemoryError:
        status = f"out of memory (limit {limit_gb:g} GB)"
    secs = time.perf_counter() - t0
    peak = _hwm_mb()
    print(json.dumps({"name": name, "secs": secs, "peak_mb": peak, "base_mb": base,
                      "status": status, "value": value}))  # fmt: skip


def _run(name: str, path: str, limit_gb: float) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, path, str(limit_gb)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        if "MemoryError" in out.stderr or "Unable to allocate" in out.stderr:
            tail = f"out of memory (limit {limit_gb:g} GB)"
        return {"name": name, "secs": float("nan"), "peak_mb": float("nan"),
                "base_mb": float("nan"), "status": tail[:60], "value": float("nan")}  # fmt: skip
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """Build the panels, run every estimator in a child process, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="paper,large")
    ap.add_argument("--did2s-pairs", type=int, default=1500)
    ap.add_argument("--did2s-limit-gb", type=float, default=8.0)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child[0], a.child[1], float(a.child[2]))
        return 0
    import numpy as np

    from cbec.spec import Spec
    from cbec.study.pipeline import build_study

    specs = {"paper": Spec(), "large": Spec(universe="all", tie_quantile=0.0)}
    tmp = Path(tempfile.mkdtemp(prefix="bench_staggered_"))
    cols = ["pair_id", "year", "treat_year", "city_i", "city_j", "cluster_city", "syn", "did",
            "treated", "event_time"]  # fmt: skip
    print("Wall-clock seconds and peak resident memory (MB) of one run per estimator, each in")
    print("its own process; 'baseline' is the process after loading the panel. Shared machine:")
    print("timings are as measured and move with the load.\n")
    for size in a.sizes.split(","):
        t0 = time.perf_counter()
        panel = build_study(specs[size]).panel[cols]
        build = time.perf_counter() - t0
        path = tmp / f"{size}.parquet"
        panel.to_parquet(path)
        n_pairs = panel["pair_id"].nunique()
        print(f"== {size}: {n_pairs:,} pairs, {len(panel):,} pair-years (built in {build:.1f} s)")
        rows = [_run(n, str(path), 0.0) for n in ESTIMATORS if n != "did2s (pyfixest)"]
        ref = next(r["secs"] for r in rows if r["name"] == "CS never-treated (diff-diff)")
        for r in rows:
            ratio = r["secs"] / ref if ref and np.isfinite(r["secs"]) else float("nan")
            print(f"  {r['name']:<34s} {r['secs']:7.2f} s  ({ratio:5.1f}x CS)  peak "
                  f"{r['peak_mb']:7.0f} MB (baseline {r['base_mb']:5.0f})  {r['status']}")  # fmt: skip
        if size == "paper":
            rng = np.random.default_rng(0)
            keep = rng.choice(panel["pair_id"].unique(), a.did2s_pairs, replace=False)
            small = panel[panel["pair_id"].isin(keep)]
            spath = tmp / "did2s_small.parquet"
            small.to_parquet(spath)
            for lbl, pth in ((f"{a.did2s_pairs:,} pairs", spath), (f"{n_pairs:,} pairs", path)):
                r = _run("did2s (pyfixest)", str(pth), a.did2s_limit_gb)
                print(f"  did2s (pyfixest) on {lbl:<14s} {r['secs']:7.2f} s  peak "
                      f"{r['peak_mb']:7.0f} MB  {r['status']}")  # fmt: skip
            r = _run("Imputation (diff-diff)", str(spath), 0.0)
            print(f"  imputation (diff-diff) on the same {a.did2s_pairs:,} pairs: "
                  f"{r['secs']:.2f} s, peak {r['peak_mb']:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
