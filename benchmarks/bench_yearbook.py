"""Timings of the yearbook loader on a real folder: cold (no grid cache), warm (cached
grids), and the session-memoised load of the study pipeline; printed as ratios of one run.

    .venv/bin/python benchmarks/bench_yearbook.py /path/to/city_panel_gp
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from cbec.data import yearbook
from cbec.spec import Spec
from cbec.study import pipeline


def main(folder: str) -> None:
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        yearbook.load_yearbook(folder, cache=cache)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        p = yearbook.load_yearbook(folder, cache=cache)
        warm = time.perf_counter() - t
        t = time.perf_counter()
        yearbook.load_yearbook(folder, cache=cache, strict=True)
        strict = time.perf_counter() - t
    spec = Spec(profile="real", data_dir=folder)
    pipeline.load_city_panel(spec)
    t = time.perf_counter()
    pipeline.load_city_panel(spec)
    memo = time.perf_counter() - t
    print(f"audit rows {len(p.audit):,}; city-years {len(p.data):,}")
    print(f"cold (no cache)      {cold:7.2f} s   1.00")
    print(f"warm (cached grids)  {warm:7.2f} s   {warm / cold:.2f}")
    print(f"warm, strict         {strict:7.2f} s   {strict / cold:.2f}")
    print(f"pipeline memo        {memo:7.3f} s   {memo / cold:.3f}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "city_panel_gp"
    main(sys.argv[1] if len(sys.argv) > 1 else str(default))
