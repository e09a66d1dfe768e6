"""Policy-tool intensities per city and year, and the DID effect by the pilot's intensity.

Chain (chapter 6): documents -> clauses (:func:`cbec.text.segment.clause_table`) -> coded
clauses (:func:`cbec.text.codebook.code_clauses`) -> :func:`document_counts` (weighted
tool counts per document, ``Spec.text_weighting``) -> :func:`city_year_intensity` (counts,
shares and cumulated stocks per city and year) -> :func:`pilot_intensity` (one intensity per
pilot city and tool, ``Spec.text_intensity``, standardised across pilots) ->
:func:`tool_did` (the DID with the interaction ``DID x z_k`` and with above/below-median
groups, same fixed effects and variances as the baseline).

On the twin, :func:`true_tool_effects` gives the targets: the generator's coefficient of each
tool on the pilot's policy strength, and the linear projection of the true effect ``tau`` of
treated post-designation pair-years on the twin's true intensities, in SYN units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from cbec.estimators.fe import fit_twfe
from cbec.spec import Spec
from cbec.text.codebook import TOOLS, Codebook, code_clauses
from cbec.text.segment import clause_table

LEVEL_ORDER: tuple[str, ...] = ("state_council", "province", "city")


def code_documents(docs: pd.DataFrame, book: Codebook | None = None) -> pd.DataFrame:
    """Segment and code every document: one row per clause with labels and matched terms."""
    return code_clauses(clause_table(docs), book)


def document_counts(coded: pd.DataFrame, docs: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Weighted tool counts per document under ``spec.text_weighting``.

    ``"clause"``: tool-k clauses; ``"document"``: tool-k clauses over all tool clauses of
    the document (each document adds up to one, or zero without tools); ``"level"``: tool-k
    clauses times the weight of the issuing level (``spec.text_level_weights`` for State
    Council, province, city). Returns ``doc_id, n_clauses`` and one column per tool.
    """
    raw = coded.groupby("doc_id")[list(TOOLS)].sum().reindex(docs["doc_id"], fill_value=0)
    n = coded.groupby("doc_id").size().reindex(docs["doc_id"], fill_value=0)
    w = raw.astype(float)
    if spec.text_weighting == "document":
        tot = w.sum(axis=1)
        w = w.div(tot.where(tot > 0, 1.0), axis=0)
    elif spec.text_weighting == "level":
        lw = dict(zip(LEVEL_ORDER, spec.text_level_weights, strict=True))
        lev = docs.set_index("doc_id")["level"].map(lw).reindex(w.index).astype(float)
        w = w.mul(lev, axis=0)
    out = w.reset_index()
    out.insert(1, "n_clauses", n.to_numpy())
    return out


def city_year_intensity(
    coded: pd.DataFrame, docs: pd.DataFrame, spec: Spec, years: Sequence[int] | None = None
) -> pd.DataFrame:
    """Tool counts, shares and cumulated stocks per city and year.

    A document covering several cities counts fully for each. Returns one row per city with
    a document and year of ``years`` (default the window): ``city_id, year, n_docs,
    n_clauses``, ``count_<tool>``, ``share_<tool>`` (of the year's tool counts; NaN in a year
    without tools) and ``stock_<tool>`` (cumulated counts up to the year).
    """
    years = list(years) if years is not None else list(spec.years)
    dc = document_counts(coded, docs, spec).set_index("doc_id")
    cd = (
        docs[["doc_id", "city_ids", "year"]]
        .explode("city_ids")
        .rename(columns={"city_ids": "city_id"})
    )
    cd = cd.dropna(subset=["city_id"]).astype({"city_id": "int64", "year": "int64"})
    cd = cd.join(dc, on="doc_id")
    g = cd.groupby(["city_id", "year"])
    agg = g[["n_clauses", *TOOLS]].sum()
    agg["n_docs"] = g.size()
    cities = sorted(cd["city_id"].unique())
    grid = pd.MultiIndex.from_product([cities, years], names=["city_id", "year"])
    agg = agg.reindex(grid, fill_value=0)
    out = agg.reset_index()[["city_id", "year", "n_docs", "n_clauses"]]
    tot = agg[list(TOOLS)].sum(axis=1).to_numpy()
    for t in TOOLS:
        c = agg[t].to_numpy(dtype=float)
        out[f"count_{t}"] = c
        out[f"share_{t}"] = np.where(tot > 0, c / np.where(tot > 0, tot, 1), np.nan)
        out[f"stock_{t}"] = pd.Series(c).groupby(out["city_id"].to_numpy()).cumsum().to_numpy()
    return out


def pilot_intensity(cy: pd.DataFrame, spec: Spec, pilots: Sequence[int]) -> pd.DataFrame:
    """One intensity per pilot city and tool, standardised across pilots.

    ``spec.text_intensity``: ``"per_doc"`` (window counts over window documents),
    ``"share"`` (window counts over all tool counts) or ``"stock"`` (``log1p`` of the stock
    at the last year). Returns ``city_id``, ``raw_<tool>``, ``z_<tool>`` (mean 0, sd 1 over
    the pilots, population sd) and ``high_<tool>`` (1 above the pilots' median). A pilot
    without documents gets raw 0 (it enacted nothing that the corpus shows).
    """
    pilots = sorted(int(p) for p in pilots)
    g = cy.groupby("city_id")
    tot = g[[f"count_{t}" for t in TOOLS]].sum()
    docs = g["n_docs"].sum()
    out = pd.DataFrame(index=pd.Index(pilots, name="city_id"))
    for t in TOOLS:
        c = tot[f"count_{t}"].reindex(pilots, fill_value=0.0)
        if spec.text_intensity == "per_doc":
            raw = c / docs.reindex(pilots, fill_value=0).clip(lower=1)
        elif spec.text_intensity == "share":
            allc = tot.sum(axis=1).reindex(pilots, fill_value=0.0)
            raw = c / allc.where(allc > 0, 1.0)
        else:
            last = cy[cy["year"] == cy["year"].max()].set_index("city_id")[f"stock_{t}"]
            raw = np.log1p(last.reindex(pilots, fill_value=0.0))
        raw = raw.astype(float)
        sd = raw.std(ddof=0)
        out[f"raw_{t}"] = raw
        out[f"z_{t}"] = (raw - raw.mean()) / sd if sd > 0 else 0.0
        out[f"high_{t}"] = (raw > raw.median()).astype("int64")
    return out.reset_index()


def attach_intensity(panel: pd.DataFrame, intensity: pd.DataFrame) -> pd.DataFrame:
    """Add ``did_z_<tool>``, ``did_high_<tool>``, ``did_low_<tool>`` to the pair panel.

    The pilot city of a treated pair carries its intensity; control pairs (and pilots
    missing from ``intensity``, which raise) have ``did = 0``, so the products are zero.
    """
    it = intensity.set_index("city_id")
    treated_pilots = panel.loc[panel["did"] == 1, "pilot_city"].dropna().astype("int64").unique()
    missing = sorted(set(treated_pilots) - set(it.index))
    if missing:
        raise KeyError(f"pilot cities without a tool intensity: {missing}")
    out = panel.copy()
    pc = out["pilot_city"].fillna(-1).astype("int64")
    did = out["did"].to_numpy(dtype=float)
    for t in TOOLS:
        z = pc.map(it[f"z_{t}"]).fillna(0.0).to_numpy(dtype=float)
        hi = pc.map(it[f"high_{t}"]).fillna(0).to_numpy(dtype=float)
        out[f"did_z_{t}"] = did * z
        out[f"did_high_{t}"] = did * hi
        out[f"did_low_{t}"] = did * (1.0 - hi)
    return out


def tool_did(
    panel: pd.DataFrame,
    intensity: pd.DataFrame,
    spec: Spec,
    *,
    vcov: str | None = None,
    controls: Sequence[str] | None = None,
    models: Sequence[str] = ("interaction", "median", "joint"),
) -> pd.DataFrame:
    """The DID effect by the pilot's intensity of each tool.

    ``models`` selects which of the three families below are fitted.

    Models (pair and year fixed effects, ``spec.controls``, variance ``vcov`` or
    ``spec.cluster``; ``"dyadic"`` uses :func:`cbec.estimators.variance.dyadic_vcov`):

    * ``interaction`` per tool: ``syn ~ did + did x z_k``;
    * ``joint``: ``syn ~ did + sum_k did x z_k``;
    * ``median`` per tool: ``syn ~ did_high_k + did_low_k`` (effects above and below the
      pilots' median).

    Returns
    -------
    DataFrame
        One row per (model, tool, term): ``model, tool, term, coef, se, pvalue, ci_low,
        ci_high, nobs``, plus for ``median`` rows a ``diff_p`` (Wald p-value of high = low).
    """
    vcov = vcov or spec.cluster
    controls = tuple(spec.controls if controls is None else controls)
    df = attach_intensity(panel, intensity)
    rows = []

    def keep(model: str, tool: str, fit, terms: Sequence[str], extra: dict | None = None) -> None:
        for term in terms:
            rows.append({"model": model, "tool": tool, "term": term, "coef": fit.coef[term],
                         "se": fit.se[term], "pvalue": fit.pvalue[term],
                         "ci_low": fit.ci_low[term], "ci_high": fit.ci_high[term],
                         "nobs": fit.nobs, **(extra or {})})  # fmt: skip

    for t in TOOLS if ("interaction" in models or "median" in models) else ():
        if "interaction" in models:
            f = fit_twfe(df, y="syn", treat="did", controls=(f"did_z_{t}", *controls), vcov=vcov)
            keep("interaction", t, f, ["did", f"did_z_{t}"])
        if "median" not in models:
            continue
        hi, lo = f"did_high_{t}", f"did_low_{t}"
        f = fit_twfe(df, y="syn", treat=hi, controls=(lo, *controls), vcov=vcov)
        d = np.array([1.0, -1.0])
        v = f.vcov.loc[[hi, lo], [hi, lo]].to_numpy()
        diff = float(f.coef[hi] - f.coef[lo])
        se = float(np.sqrt(max(d @ v @ d, 0.0)))
        p = float(2 * stats.t.sf(abs(diff / se), f.df_resid)) if se > 0 else np.nan
        keep("median", t, f, [hi, lo], {"diff_p": p})
    if "joint" in models:
        zs = tuple(f"did_z_{t}" for t in TOOLS)
        f = fit_twfe(df, y="syn", treat="did", controls=(*zs, *controls), vcov=vcov)
        keep("joint", "all", f, ["did", *zs])
    return pd.DataFrame(rows)


def true_tool_effects(
    panel: pd.DataFrame, twin_tools: pd.DataFrame | None, effect: dict | None
) -> pd.DataFrame:
    """The twin's targets for :func:`tool_did`'s joint model, one row per tool.

    ``generator``: the coefficient of the tool on the pilot's policy strength (relative to
    the average effect, per sd; 0 when the twin attaches none). ``projection``: slope of
    the true effect ``tau`` on the twin's true standardised intensities (all three jointly,
    with a constant) over treated post-designation pair-years, in SYN units per sd: the
    estimand of the joint interaction when intensities are measured without error.
    """
    rows = []
    eff = effect or {}
    proj = dict.fromkeys(TOOLS, np.nan)
    if twin_tools is not None and "tau" in panel.columns:
        tt = twin_tools.set_index(twin_tools["city_id"].astype("int64"))
        p = panel[panel["did"] == 1]
        pc = p["pilot_city"].astype("int64")
        Z = np.column_stack([pc.map(tt[t]).to_numpy(dtype=float) for t in TOOLS])
        ok = np.isfinite(Z).all(axis=1)
        X = np.column_stack([np.ones(ok.sum()), Z[ok]])
        b = np.linalg.lstsq(X, p["tau"].to_numpy(dtype=float)[ok], rcond=None)[0]
        proj = dict(zip(TOOLS, b[1:], strict=True))
    for t in TOOLS:
        rows.append(
            {"tool": t, "generator": float(eff.get(f"tool_{t}", 0.0)), "projection": proj[t]}
        )
    return pd.DataFrame(rows)
