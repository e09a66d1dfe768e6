"""Time the policy-text coder: 10,000 clauses (target: under 10 s on 2 cores).

Run: ``.venv/bin/python benchmarks/bench_coder.py``. Clauses come from the synthetic
corpus generator (:mod:`cbec.text.synthetic`) on a 60-city universe, repeated to 10,000.
Prints seconds for the rule coder, for jieba word segmentation of the same clauses (after
the dictionary is loaded), and their ratio.
"""

from __future__ import annotations

import time

import pandas as pd

from cbec.data.reference import load_cities
from cbec.text import codebook, segment, synthetic


def main(n: int = 10_000) -> None:
    c = load_cities().head(60).copy()
    c["pilot"] = [True] * 20 + [False] * 40
    c["batch"] = [1 + k % 4 for k in range(20)] + [pd.NA] * 40
    c["treat_year"] = [(2015, 2016, 2018, 2019)[k % 4] for k in range(20)] + [pd.NA] * 40
    sc = synthetic.synthetic_corpus(c, window=(2010, 2019), seed=1)
    clauses = sc.clauses[["clause_id", "doc_id", "text"]]
    clauses = pd.concat([clauses] * (n // len(clauses) + 1), ignore_index=True).head(n)
    book = codebook.load_codebook()
    t0 = time.perf_counter()
    coded = codebook.code_clauses(clauses, book)
    t_code = time.perf_counter() - t0
    segment.words("预热")  # load the dictionary (from the cache in the build folder)
    t0 = time.perf_counter()
    segment.cut_many(clauses["text"])
    t_cut = time.perf_counter() - t0
    print(f"clauses coded: {len(coded):,} (tool clauses: {int((coded['n_tools'] > 0).sum()):,})")
    print(f"rule coder:  {t_code:6.2f} s  ({t_code / 10:.1%} of the 10 s budget)")
    print(f"jieba words: {t_cut:6.2f} s  ({t_cut / t_code:.1f} times the coder)")


if __name__ == "__main__":
    main()
