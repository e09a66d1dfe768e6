"""Time the table formatter against pandas' own HTML writer on tables of book-like sizes.

Run: ``python benchmarks/bench_report.py``. Prints the time of one call of each output of
:class:`cbec.outputs.report.Table` (Markdown for the book, HTML, LaTeX) as a ratio to
``DataFrame.to_html`` on the same raw frame, for a 9-row event-study table and a 2,000-row
audit-size table.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from cbec.outputs.report import Table


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    for rows in (9, 2000):
        body = pd.DataFrame(
            {
                "event_time": np.arange(rows) - 5,
                "coef": rng.normal(size=rows),
                "se": rng.uniform(0.01, 0.2, rows),
                "p": rng.uniform(0, 1, rows),
                "n_obs": rng.integers(1000, 200000, rows),
                "label": [f"row {i}" for i in range(rows)],
            }
        )
        t = Table(title="bench", body=body)
        base = _best(lambda b=body: b.to_html())
        print(f"{rows:>5} rows: pandas to_html {base * 1e3:.2f} ms = 1.00")
        for name in ("to_markdown", "to_html", "to_latex"):
            dt = _best(getattr(t, name))
            print(f"{'':>11}Table.{name:<12} {dt * 1e3:8.2f} ms = {dt / base:5.2f}")


if __name__ == "__main__":
    main()
