"""Cost of the chapter-8 Monte Carlo study: per replication, serial vs two Dask workers.

Runs ``--reps`` replications (every available scenario and registered estimator) three ways
into temporary folders and prints the times as ratios from this one run:

1. serially in this process (``scheduler="serial"``), with the per-replication split into
   building the worlds (twin + pair panel) and running the estimators;
2. on a new 2-worker ``LocalCluster``, wall time including the cluster's start-up;
3. the same, cluster already started (the speed-up that matters for a long study).

It then projects the wall time of a study of ``--project`` replications on 32 workers from the
serial per-replication cost (replications are independent, so the projection assumes perfect
scaling plus the measured start-up). The load average is printed: on a shared machine the
numbers are upper bounds.

    python benchmarks/bench_montecarlo.py --reps 4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from cbec.analyses import montecarlo as mc


def cpu_rep(rep: int) -> tuple[float, float]:
    """One replication: (CPU seconds of this process, wall seconds)."""
    c0, w0 = time.process_time(), time.perf_counter()
    mc.run_replication(rep)
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=4, help="replications per run (even)")
    ap.add_argument("--project", type=int, default=250, help="study size to project")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    n = args.reps
    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()}")
    print(f"scenarios: {mc.available_scenarios()}; estimators: {list(mc.ESTIMATORS)}")

    # warm the imports and caches of this process (the workers pay theirs inside run 2)
    mc.run_replication(10_000, scenarios=("none",), estimators=("twfe",))

    cpu_serial = [cpu_rep(r)[0] for r in range(3 * n, 3 * n + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mc.run_study(n, f"{tmp}/serial", scheduler="serial")
        serial = time.perf_counter() - t0
        res = mc.load_results(f"{tmp}/serial")
        per_world = res.drop_duplicates(["rep", "scenario"])["seconds_world"].sum() / n
        per_est = res.drop_duplicates(["rep", "scenario", "estimator"])["seconds_estimator"]
        per_est_total = per_est.sum() / n
        by_est = (
            res.drop_duplicates(["rep", "scenario", "estimator"])
            .groupby("estimator")["seconds_estimator"]
            .mean()
        )

        t0 = time.perf_counter()
        mc.run_study(range(n, 2 * n), f"{tmp}/dask_cold", n_workers=2)
        cold = time.perf_counter() - t0

        client = mc.start_client(None, 2)
        try:
            # warm both workers (imports) before timing
            client.gather([client.submit(mc.replication_seed, 1, i, pure=False) for i in range(4)])
            t0 = time.perf_counter()
            futs = [client.submit(mc.run_replication, r, pure=False) for r in range(2 * n, 3 * n)]
            client.gather(futs)
            warm = time.perf_counter() - t0
            cpu_worker = [c for c, _ in client.gather(
                [client.submit(cpu_rep, r, pure=False) for r in range(3 * n + 1, 3 * n + 3)]
            )]  # fmt: skip
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()

    per_rep = serial / n
    print(f"\nper replication (serial): {per_rep:.2f} s = worlds {per_world:.2f} s "
          f"({per_world / per_rep:.0%}) + estimators {per_est_total:.2f} s "
          f"({per_est_total / per_rep:.0%})")  # fmt: skip
    for name, sec in by_est.items():
        print(f"  estimator {name:<22s} {sec:.3f} s per world")
    print(f"{n} replications serial:               {serial:7.1f} s  (1.00)")
    print(f"{n} replications, 2 workers, cold start: {cold:7.1f} s  "
          f"(speed-up {serial / cold:.2f}x)")  # fmt: skip
    print(f"{n} replications, 2 workers, warm:       {warm:7.1f} s  "
          f"(speed-up {serial / warm:.2f}x; target 1.7x)")  # fmt: skip
    cpu_s, cpu_w = float(np.mean(cpu_serial)), float(np.mean(cpu_worker))
    print(f"CPU seconds per replication: {cpu_s:.2f} in this process, {cpu_w:.2f} in a Dask "
          f"worker (ratio {cpu_w / cpu_s:.2f}; the work a worker adds)")  # fmt: skip
    startup = max(cold - warm, 0.0)
    proj = per_rep * args.project / 32 + startup
    print(f"projected {args.project} replications on 32 workers: {proj / 60:.1f} min "
          f"(serial {per_rep * args.project / 60:.0f} min on one core)")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        numbers = {
            "reps": n,
            "serial_seconds_per_rep": per_rep,
            "world_seconds_per_rep": per_world,
            "estimator_seconds_per_rep": per_est_total,
            "two_workers_cold_seconds": cold,
            "two_workers_warm_seconds": warm,
            "speedup_cold": serial / cold,
            "speedup_warm": serial / warm,
            "projected_minutes_32_workers": proj / 60,
            "projected_reps": args.project,
            "cpu_seconds_serial": cpu_s,
            "cpu_seconds_worker": cpu_w,
            "load_average": list(os.getloadavg()),
            "cores": os.cpu_count(),
            "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(numbers, f, indent=2)


if __name__ == "__main__":
    main()
