"""Real-panel aggregates (cbec.outputs.realresults) and the real-profile sample.

The committed file ``data/real_results/results.json`` holds aggregates only. With
``CBEC_REAL_DATA`` set (``.ci/run`` sets it when ../shared/data/real exists) the slow test
recomputes them and fails if any number moved by more than 1e-8 relative, or if the data
fingerprint changed: the published real numbers cannot drift from the code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cbec.outputs import realresults as rr
from cbec.spec import Spec
from cbec.study import pipeline

REAL = os.environ.get("CBEC_REAL_DATA")
PANEL = Path(REAL) / "city_panel_gp" if REAL else None
needs_real = pytest.mark.skipif(
    PANEL is None or not PANEL.is_dir(), reason="set CBEC_REAL_DATA to the shared data folder"
)

FAKE = {
    "samples": {
        "default": {
            "sample": {"cities": 215, "pilots": 52, "pair_years": 108390},
            "did": {"controls": {"pilot_city": {"coef": 0.06248837, "se": 0.07088502}}},
            "placebo": {"p": 0.4626865671641791},
        }
    }
}


def test_headline_and_value_readers():
    assert rr.headline(results=FAKE) == "Real panel: 0.062 (0.071)"
    assert rr.headline("default.placebo.p", FAKE) == "Real panel: 0.463"
    assert rr.headline("default.sample.pair_years", FAKE) == "Real panel: 108,390"
    assert rr.headline("default.did.controls.dyadic", FAKE) == "Real panel: not available"
    assert rr.headline(results={}) == "Real panel: not available"
    assert rr.value("default.sample.cities", FAKE) == 215
    assert rr.value("nope.sample", FAKE) is None


def test_compare_tolerance_and_structure():
    a = {"x": 1.0, "y": [1, 2], "s": "a", "seconds": 3.0}
    assert rr.compare(a, {"x": 1.0 + 1e-10, "y": [1, 2], "s": "a", "seconds": 9.0}) == []
    assert rr.compare(a, {"x": 1.0 + 1e-6, "y": [1, 2], "s": "a"}) == [".x: 1.0 -> 1.000001"]
    assert rr.compare(a, {"x": 1.0, "y": [1], "s": "a"}) == [".y: 2 entries, now 1"]
    assert rr.compare(a, {"x": 1.0, "y": [1, 2], "s": "b"}) == [".s: 'a' -> 'b'"]


def test_committed_file_holds_aggregates_only():
    res = rr.load()
    if res is None:
        pytest.skip("no committed real results yet")
    text = rr.RESULTS_PATH.read_text(encoding="utf-8")
    assert "/work" not in text and "/home" not in text and "\\\\" not in text
    assert len(res["fingerprint"]["sha256"]) == 64 and res["fingerprint"]["n_files"] >= 1
    assert set(res["samples"]) == set(rr.SAMPLES)
    for one in res["samples"].values():
        assert set(one) >= {"sample", "did", "event_study", "placebo", "robustness", "audit"}
        assert set(one["did"]["controls"]) == {"pair", "pilot_city", "twoway", "dyadic"}
        assert 0.0 <= one["placebo"]["p"] <= 1.0
        # no list longer than the robustness or audit tables: no row-level data
        assert len(one["robustness"]) < 40 and len(one["audit"]) < 60
    paper = res["samples"]["real_paper"]["sample"]
    assert (paper["cities"], paper["pilots"], paper["pair_years"]) == (254, 55, 153230)


def test_needed_variables_follow_the_outcome():
    cols = ["gdp_pc", "gdp_growth", "service_share", "fdi_pc", "pop", "gdp", "land_area"]
    cm = pipeline.needed_variables(Spec(), cols)
    assert cm["outcome"][0] == ("gdp_pc", "gdp_growth", "service_share", "fdi_pc")
    kpp = pipeline.needed_variables(Spec(sync_measure="kpp", controls=()), cols)
    assert kpp == {"outcome": (("gdp_growth",), list(range(2010, 2020))),
                   "tie score": (("pop", "gdp", "land_area"), [2010])}  # fmt: skip
    assert "fdi_pc" not in {v for vs, _ in kpp.values() for v in vs}


def test_lacking_counts_missing_rows_and_values():
    data = pd.DataFrame({"city_id": [1, 1, 2], "year": [2010, 2011, 2010], "a": [1.0, np.nan, 1.0]})
    lack = pipeline._lacking(data, {"outcome": (("a",), [2010, 2011])})
    assert lack.values.tolist() == [[1, "outcome", "a", [2011]], [2, "outcome", "a", [2011]]]


@pytest.mark.real
@needs_real
def test_real_sample_steps_and_the_paper_preset():
    spec = Spec(profile="real", data_dir=str(PANEL))
    steps, switched = pipeline.sample_steps(spec)
    assert steps["cities"].iloc[0] == 254 and steps["pilots"].iloc[0] == 55
    assert steps["removed"].iloc[1:].sum() == 254 - steps["cities"].iloc[-1]
    assert steps["cities"].is_monotonic_decreasing
    base = switched.set_index("sample").loc["this Spec"]
    study = pipeline.build_study(spec)
    assert (base.cities, base.pilots, base.pair_years) == (
        len(study.universe), int(study.universe.pilot.sum()), len(study.panel)
    )  # fmt: skip
    both = switched.set_index("sample").loc["both"]
    assert (both.cities, both.pilots, both.pair_years) == (254, 55, 153230)
    # every city the default leaves out has an audit row naming the variable
    a = study.audit
    out = set(a.loc[a.reason == "missing_variable", "city_id"])
    assert len(out) == 254 - len(study.universe)
    assert not (a.reason == "no_data_in_panel").any()  # all 254 have rows in the panel


@pytest.mark.real
@pytest.mark.slow
@needs_real
def test_committed_real_results_match_a_recomputation():
    old = rr.load()
    assert old is not None, "run: python -m cbec real-results --data-dir DIR --write"
    from cbec.data.yearbook import data_fingerprint

    assert data_fingerprint(PANEL) == old["fingerprint"], "the real data changed"
    new = json.loads(json.dumps(rr.compute(PANEL)))
    diffs = rr.compare(old, new, rtol=1e-8)
    assert not diffs, "\n".join(diffs[:20])
