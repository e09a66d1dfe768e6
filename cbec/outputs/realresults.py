"""Aggregate results on the real panel, for readers who do not hold it.

The real yearbook compilation is third-party data that the project may not publish. What
it may publish is aggregates: sample counts, coefficients and standard errors under every
clustering, event-study coefficients and the pre-trend test, the placebo p-value and the
robustness rows. :func:`compute` makes them from a real-profile :class:`~cbec.spec.Spec`;
``python -m cbec real-results --data-dir DIR --write`` writes them to
``data/real_results/results.json`` (:data:`RESULTS_PATH`) with a content fingerprint of the
input files, and a test (run when ``CBEC_REAL_DATA`` is set) recomputes them and fails when
they no longer match, so the published real numbers cannot drift from the code.

Chapters on the twin show them beside their own numbers through :func:`load`,
:func:`value` and :func:`headline` ("Real panel: 0.062 (0.071)"). No row of the data is
ever written: every number in the file is a count or an estimate.

The ``default`` sample also carries the sample construction step by step
(:func:`cbec.study.pipeline.sample_steps`: how many cities each rule removes, and what
switching a rule would give), so the twin book can show the real sample's story.

The file is computed in fast mode (``Spec.fast``: :attr:`~cbec.spec.Spec.n_placebo_fast`
placebo draws), which changes only the placebo p-value's precision; every other number is
the same as in a full build.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from cbec.spec import Spec

#: The committed file of real-panel aggregates.
RESULTS_PATH = Path(__file__).resolve().parents[2] / "data" / "real_results" / "results.json"
#: Version of the file's layout.
FORMAT_VERSION = 2
#: Samples computed: the default real Spec and the preset closest to the paper's sample.
SAMPLES: tuple[str, ...] = ("default", "real_paper")
#: Where the numbers come from (shown beside them in the book).
PROVENANCE = (
    "computed on a third-party compilation of the China City Statistical Yearbooks "
    "(not distributed with this book)"
)


def sample_spec(name: str, data_dir: str | Path, *, fast: bool = True) -> Spec:
    """The real-profile Spec of a sample of :data:`SAMPLES`."""
    if name == "default":
        return Spec(profile="real", data_dir=str(data_dir), fast=fast)
    return Spec.preset(name, data_dir=str(data_dir), fast=fast)


def _f(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def compute_one(spec: Spec, *, robustness: bool = True) -> dict[str, Any]:
    """Aggregates of one real-profile Spec (see the module docstring)."""
    from cbec.analyses import robustness as rob
    from cbec.estimators import eventstudy, placebo
    from cbec.estimators import fe as estimate
    from cbec.study.pipeline import build_study

    t0 = time.perf_counter()
    study = build_study(spec)
    panel = study.panel
    u = study.universe
    out: dict[str, Any] = {
        "sample": {
            "cities": len(u),
            "pilots": int(u["pilot"].sum()),
            "pairs": int(panel["pair_id"].nunique()),
            "pair_years": len(panel),
            "treated_post": int(panel["did"].sum()),
            "indicators": list(study.indicators),
        },
        "audit": study.audit_summary()[["stage", "reason", "rows", "cities"]]
        .astype({"rows": int, "cities": int})
        .to_dict("records"),
    }
    did: dict[str, Any] = {}
    for name, ctrl in (("no_controls", ()), ("controls", spec.controls)):
        tab = estimate.se_table(panel, y="syn", treat="did", controls=ctrl)
        did[name] = {
            v: {
                "coef": _f(r.coef),
                "se": _f(r.se),
                "p": _f(r.pvalue),
                "n_clusters": None if pd.isna(r.n_clusters) else int(r.n_clusters),
            }
            for v, r in tab.iterrows()
        }
    out["did"] = did
    es = eventstudy.fit_event_study(
        panel, y="syn", window=spec.event_window, controls=spec.controls,
        cluster=spec.cluster, seed=spec.seed,
    )  # fmt: skip
    t = es.table
    et = [str(int(k)) for k in t["event_time"]]  # binned endpoints at the window's ends
    out["event_study"] = {
        "cluster": spec.cluster,
        "window": list(spec.event_window),
        "coef": {k: _f(v) for k, v in zip(et, t["coef"], strict=True)},
        "se": {k: _f(v) for k, v in zip(et, t["se"], strict=True)},
        "pretest_stat": _f(es.pretest_stat),
        "pretest_df": int(es.pretest_df),
        "pretest_p": _f(es.pretest_p),
    }
    pilots = u.loc[u["pilot"], ["city_id", "treat_year"]]
    plac = placebo.placebo_did(
        panel, "syn", spec.controls, n_draws=spec.draws, seed=spec.seed,
        pilots=pilots, cities=u["city_id"].to_numpy(), progress=False,
    )  # fmt: skip
    out["placebo"] = {
        "draws": int(len(plac.draws)),
        "actual": _f(plac.actual),
        "p": _f(plac.p_value),
    }
    if robustness:
        out["robustness"] = []
        for check in rob.default_checks(spec):
            try:
                r = rob.run_checks(study, [check], progress=False).iloc[0]
            except ValueError as err:  # e.g. a filter that needs years the panel lacks
                out["robustness"].append(
                    {"group": check.group, "label": check.label,
                     "unavailable": " ".join(str(err).split())[:160]}
                )  # fmt: skip
                continue
            out["robustness"].append(
                {
                    "group": r.group,
                    "label": r.label,
                    "coef": _f(r.coef),
                    "se": _f(r.se),
                    "p": _f(r.p),
                    "n_pairs": int(r.n_pairs),
                }
            )
    out["modern"] = _modern(study, spec)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _modern(study: Any, spec: Spec) -> dict[str, Any]:
    """Chapter 7's heterogeneity-robust estimates (overall ATT) with their standard errors
    from per-pair influence functions under every dependence structure."""
    from cbec.estimators import influence, staggered

    panel = study.panel
    fits = {
        "cs_never_treated": staggered.cs_influence(
            panel, control="never_treated", base_period=spec.cs_base_period
        ),
        "cs_not_yet_treated": staggered.cs_influence(
            panel, control="not_yet_treated", base_period=spec.cs_base_period
        ),
        "imputation": staggered.imputation_influence(panel),
    }
    out: dict[str, Any] = {}
    for name, res in fits.items():
        se = influence.if_se(res.psi[["overall"]], res.units).iloc[0]
        out[name] = {"coef": _f(res.estimates["overall"])} | {
            f"se_{k}": _f(v) for k, v in se.items()
        }
    return out


#: Panels of the specification curve computed for the committed real results: a seeded sample
#: (the base panel always included), so that the check in CI stays within minutes.
CURVE_PANELS = 12


def curve_summary(spec: Spec, n_panels: int | None = CURVE_PANELS) -> dict[str, Any]:
    """Aggregates of chapter 9's specification curve on ``spec``'s data (no row of data)."""
    from cbec.analyses import speccurve

    curve = speccurve.run_curve(spec, max_panels=n_panels, seed=spec.seed)
    t = curve.table
    dec = speccurve.variance_decomposition(curve)
    return {
        "n_combinations": curve.n_combinations,
        "n_specifications": len(t),
        "n_panels": int(t["panel"].nunique()),
        "panels_sampled": n_panels,
        "median": _f(t["estimate"].median()),
        "min": _f(t["estimate"].min()),
        "max": _f(t["estimate"].max()),
        "shares": {
            c: {k: _f(v) for k, v in curve.share(c).items()} for c in speccurve.CURVE_CLUSTERS
        },
        "variance_shares": {str(r.choice): _f(r.share_alone) for r in dec.itertuples()},
    }


def compute(
    data_dir: str | Path, *, samples: tuple[str, ...] = SAMPLES, robustness: bool = True
) -> dict[str, Any]:
    """Every sample's aggregates, with the input fingerprint (no path, no row of data)."""
    from cbec.data.yearbook import data_fingerprint

    fp = data_fingerprint(data_dir)
    res: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "provenance": PROVENANCE,
        "fingerprint": fp,
        "fast": True,
        "command": "python -m cbec real-results --data-dir DIR --write",
        "samples": {},
    }
    from cbec.study.pipeline import sample_steps

    for name in samples:
        spec = sample_spec(name, data_dir)
        one = compute_one(spec, robustness=robustness)
        if name == "default":  # the sample step by step, and what each switch would give
            one["speccurve"] = curve_summary(spec)
            steps, switched = sample_steps(spec)
            one["sample_steps"] = steps.astype(object).to_dict("records")
            one["sample_switches"] = switched.astype(object).to_dict("records")
        one["spec_changes"] = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in spec.changes().items()
            if k not in ("data_dir", "fast")
        }
        res["samples"][name] = one
    return res


def write(results: dict[str, Any], path: str | Path = RESULTS_PATH) -> Path:
    """Write ``results`` as JSON (stable key order, floats exact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load(path: str | Path = RESULTS_PATH) -> dict[str, Any] | None:
    """The committed real-panel aggregates, or ``None`` when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def value(key: str, results: dict[str, Any] | None = None) -> Any:
    """One number by a dotted key, e.g. ``"default.did.controls.pilot_city.coef"``,
    ``"real_paper.sample.cities"`` or ``"default.placebo.p"``; ``None`` if absent."""
    results = load() if results is None else results
    node: Any = (results or {}).get("samples", {})
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def headline(
    key: str = "default.did.controls.pilot_city",
    results: dict[str, Any] | None = None,
    fmt: str = ".3f",
) -> str:
    """ "Real panel: 0.062 (0.071)" for a coefficient entry (coef and se), or
    "Real panel: 0.412" for a single number; "Real panel: not available" without the file.

    ``key`` names an entry of :func:`value`; a ``did`` entry such as
    ``"default.did.controls.dyadic"`` gives the coefficient and its standard error.
    """
    v = value(key, results)
    if v is None:
        return "Real panel: not available"
    if isinstance(v, dict) and "coef" in v:
        return f"Real panel: {v['coef']:{fmt}} ({v['se']:{fmt}})"
    if isinstance(v, float):
        return f"Real panel: {v:{fmt}}"
    return f"Real panel: {v:,}" if isinstance(v, int) else f"Real panel: {v}"


def compare(old: Any, new: Any, rtol: float = 1e-8, where: str = "") -> list[str]:
    """Differences between two result trees (numbers within ``rtol`` relative count as equal)."""
    diffs: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k == "seconds":
                continue
            if k not in old or k not in new:
                diffs.append(f"{where}.{k}: only in {'new' if k in new else 'old'}")
                continue
            diffs += compare(old[k], new[k], rtol, f"{where}.{k}")
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} entries, now {len(new)}"]
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            diffs += compare(a, b, rtol, f"{where}[{i}]")
    elif isinstance(old, float) and isinstance(new, float | int):
        if not math.isclose(old, float(new), rel_tol=rtol, abs_tol=1e-12):
            diffs.append(f"{where}: {old!r} -> {new!r}")
    elif old != new:
        diffs.append(f"{where}: {old!r} -> {new!r}")
    return diffs


__all__ = [
    "PROVENANCE",
    "RESULTS_PATH",
    "SAMPLES",
    "compare",
    "compute",
    "compute_one",
    "headline",
    "load",
    "sample_spec",
    "value",
    "write",
]
