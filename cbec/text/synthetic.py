"""The twin's policy-text corpus: documents drawn from clause templates, with known labels.

Every pilot city of the study gets documents whose tool mix follows its **tool intensities**
:math:`z_{pk}` (supply, environment, demand; standardised across pilots). On the synthetic
twin these are the twin's own (``CityPanel.meta["policy_tools"]``, which also scale the
pilot's true effect by its strength :math:`s_p = \\max(0, 1 + \\sum_k \\beta_k z_{pk})`); when
a panel carries none, :func:`pilot_tools` draws them from the seed and the effect does not
depend on them (``source="seed"``, every coefficient 0).

Documents (dates inside the window only):

* the State Council approval of each batch, covering all its pilot cities (8 clauses, tools
  with equal weights), dated the approval date;
* one provincial implementation plan per pilot city in its designation year (24 clauses);
* one city document per year from the designation year to the last year (12 clauses).

Clauses of a document: for each tool :math:`k`, :math:`n_k \\sim \\text{Poisson}(0.2\\,n\\,
e^{\\lambda z_{pk}})` enacting clauses (:math:`\\lambda` = ``lam``, default 0.5); each of
them lists a second tool with probability 0.15 (a mixed clause); confounders (a tool term
mentioned without action, or negated) number :math:`\\text{Poisson}(0.15\\,n)`; neutral
clauses fill up to :math:`n`. Tool terms come from the coding book with probability 0.85
and otherwise from ``data/text/template_terms.csv`` (wording the coding book lacks, so the
coder's recall is below one by design). Clause templates: ``data/text/clause_templates.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.text import TEXT_DATA_DIR
from cbec.text.codebook import TOOLS, Codebook, load_codebook
from cbec.text.segment import clause_table

#: Clauses per document by level.
CLAUSES_PER_DOC: dict[str, int] = {"state_council": 8, "province": 24, "city": 12}


@dataclass
class SyntheticCorpus:
    """A generated corpus.

    Attributes
    ----------
    docs
        Same columns as :attr:`cbec.text.corpus.Corpus.docs`.
    clauses
        One row per clause (``clause_id, doc_id, sentence, clause, text``) with the true
        labels ``supply, environment, demand`` (0/1), ``template_id`` and ``kind``.
    tools
        The intensities used: ``city_id, supply, environment, demand`` and ``source``
        (``"twin"`` or ``"seed"``).
    """

    docs: pd.DataFrame
    clauses: pd.DataFrame
    tools: pd.DataFrame


def load_templates() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clause templates and the extra template terms (``data/text/``)."""
    tpl = pd.read_csv(TEXT_DATA_DIR / "clause_templates.csv", dtype=str, keep_default_na=False)
    extra = pd.read_csv(TEXT_DATA_DIR / "template_terms.csv", dtype=str, keep_default_na=False)
    return tpl, extra


def pilot_tools(universe: pd.DataFrame, meta: dict | None, seed: int) -> pd.DataFrame:
    """Tool intensities of the universe's pilot cities.

    The twin's ``meta["policy_tools"]`` when present (restricted to the universe's pilots and
    standardised again across them); otherwise standard normal draws from ``seed`` (one
    row per pilot in city-code order), ``source="seed"``.
    """
    pilots = universe.loc[universe["pilot"].astype(bool), "city_id"].astype("int64")
    pilots = np.sort(pilots.to_numpy())
    twin = (meta or {}).get("policy_tools")
    if isinstance(twin, pd.DataFrame) and set(TOOLS) <= set(twin.columns):
        t = twin.assign(city_id=twin["city_id"].astype("int64")).set_index("city_id")
        t = t.reindex(pilots)[list(TOOLS)]
        if t.notna().all().all():
            t = (t - t.mean()) / t.std(ddof=0)
            return t.reset_index().assign(source="twin")
    rng = np.random.default_rng([seed, 6])
    z = rng.standard_normal((len(pilots), len(TOOLS)))
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    out = pd.DataFrame(z, columns=list(TOOLS))
    out.insert(0, "city_id", pilots)
    return out.assign(source="seed")


def _fill(text: str, terms: list[str], city: str) -> str:
    out = text.replace("{city}", city)
    if "{a}" in out:
        out = out.replace("{a}", terms[0])
    if "{b}" in out:
        out = out.replace("{b}", terms[1])
    return out


def synthetic_corpus(
    universe: pd.DataFrame,
    *,
    window: tuple[int, int],
    seed: int,
    meta: dict | None = None,
    lam: float = 0.5,
    book: Codebook | None = None,
) -> SyntheticCorpus:
    """Generate the twin's corpus for the pilot cities of ``universe`` (see the module doc).

    Parameters
    ----------
    universe
        Study universe with ``city_id``, ``short_zh``, ``pilot``, ``batch``, ``treat_year``.
    window
        ``(first_year, last_year)``: documents are dated inside it.
    seed
        Seed of the draws (the corpus is a function of the seed and the universe).
    meta
        The twin's ``CityPanel.meta`` (its ``policy_tools``), or ``None``.
    lam
        Log-rate of enacting clauses per sd of intensity.
    """
    book = book if book is not None else load_codebook()
    tpl, extra = load_templates()
    tools = pilot_tools(universe, meta, seed)
    rng = np.random.default_rng([seed, 61])
    by_kind = {
        k: list(zip(g["template_id"], g["text"], strict=True)) for k, g in tpl.groupby("kind")
    }
    terms_by_tool = {
        t: list(
            book.terms.loc[book.terms["tool"] == t, ["term", "subtool"]].itertuples(index=False)
        )
        for t in TOOLS
    }
    extra_by_sub = extra.groupby("subtool")["term"].apply(list).to_dict()

    def draw_term(tool: str) -> str:
        cand = terms_by_tool[tool]
        term, sub = cand[rng.integers(len(cand))]
        alt = extra_by_sub.get(sub, [])
        if alt and rng.random() < 0.15:
            return str(alt[rng.integers(len(alt))])
        return str(term)

    def clause(kind: str, tool_list: list[str], city: str) -> tuple[str, str, dict[str, int]]:
        g = by_kind[kind]
        tid, text = g[rng.integers(len(g))]
        terms = [draw_term(k) for k in tool_list] or [draw_term(TOOLS[rng.integers(3)])] * 2
        if len(terms) == 1:
            terms.append(terms[0])
        labels = {k: 0 for k in TOOLS}
        if kind in ("enact", "mixed"):
            for k in tool_list:
                labels[k] = 1
        return _fill(str(text), terms, city), str(tid), labels

    def document(z: np.ndarray, n: int, city: str) -> list[tuple[str, str, str, dict[str, int]]]:
        out = []
        for j, k in enumerate(TOOLS):
            for _ in range(rng.poisson(0.2 * n * np.exp(lam * z[j]))):
                if rng.random() < 0.15:
                    other = [o for o in TOOLS if o != k][rng.integers(2)]
                    out.append(("mixed", *clause("mixed", [k, other], city)))
                else:
                    out.append(("enact", *clause("enact", [k], city)))
        for _ in range(rng.poisson(0.15 * n)):
            kind = "mention" if rng.random() < 0.6 else "negation"
            out.append((kind, *clause(kind, [TOOLS[rng.integers(3)]], city)))
        while len(out) < n:
            out.append(("neutral", *clause("neutral", [], city)))
        order = rng.permutation(len(out))
        return [out[i] for i in order]

    u = universe.set_index(universe["city_id"].astype("int64"))
    zmap = tools.set_index("city_id")[list(TOOLS)]
    first, last = window
    docs, truth = [], []

    def add(doc_id, title, issuer, level, date, city_ids, z, city_name) -> None:
        cl = document(z, CLAUSES_PER_DOC[level], city_name)
        parts = []
        for i, (kind, text, tid, lab) in enumerate(cl):
            prefix = f"（{'一二三四五六七八九十'[i % 10]}）" if i % 4 == 0 else ""
            parts.append(prefix + text + "。")
            truth.append({"doc_id": doc_id, "order": i, "template_id": tid, "kind": kind, **lab})
        docs.append(
            {"doc_id": doc_id, "file": f"{doc_id}.txt", "title": title, "issuer": issuer,
             "level": level, "date": date, "cities": ";".join(map(str, city_ids)),
             "source": "synthetic (cbec.text.synthetic)", "year": date.year,
             "city_ids": tuple(city_ids), "encoding": "utf-8", "text": "\n".join(parts),
             "meta": {}}
        )  # fmt: skip

    pil = u[u["pilot"].astype(bool)]
    for batch, g in pil.groupby("batch"):
        years = g["treat_year"].astype("int64")
        y = int(years.min())
        if not first <= y <= last:
            continue
        add(f"sc-batch{int(batch)}", f"国务院关于同意设立第{int(batch)}批跨境电子商务综合试验区的批复",
            "国务院", "state_council", pd.Timestamp(y, 3, 1), sorted(g.index), np.zeros(3),
            "各地")  # fmt: skip
    for cid in sorted(pil.index):
        r = u.loc[cid]
        t0 = int(r["treat_year"])
        name = str(r["short_zh"])
        z = zmap.loc[cid].to_numpy(dtype=float)
        if first <= t0 <= last:
            add(f"p{cid}-{t0}", f"中国（{name}）跨境电子商务综合试验区实施方案", "省人民政府",
                "province", pd.Timestamp(t0, 6, 1), [cid], z, name)  # fmt: skip
        for y in range(max(t0, first), last + 1):
            add(f"c{cid}-{y}", f"{name}市{y}年跨境电子商务综合试验区建设工作要点",
                f"{name}市人民政府", "city", pd.Timestamp(y, 9, 1), [cid], z, name)  # fmt: skip
    docs_df = pd.DataFrame(docs)
    docs_df["n_chars"] = docs_df["text"].str.len()
    clauses = clause_table(docs_df)
    truth_df = pd.DataFrame(truth)
    if len(clauses) != len(truth_df):  # pragma: no cover - a template that splits
        raise RuntimeError("segmentation of the synthetic corpus does not match its clauses")
    lab = truth_df[["template_id", "kind", *TOOLS]].reset_index(drop=True)
    clauses = pd.concat([clauses.reset_index(drop=True), lab], axis=1)
    return SyntheticCorpus(docs=docs_df, clauses=clauses, tools=tools)
