"""The coding book of policy tools and the rule coder that applies it to clauses.

The coding book (``data/text/codebook.csv``, written by this team) follows Rothwell & Zegveld
(1985): three tool types, each with sub-tools, and for every sub-tool a definition, an example
clause and the terms that signal it:

* **supply** (the government pushes the trade with resources): talent, funding, technology,
  infrastructure, public services;
* **environment** (it shapes the conditions): planning, finance, tax, regulation and
  standards, strategic measures;
* **demand** (it pulls the trade by creating or opening demand): government procurement,
  outsourcing, trade facilitation, overseas markets and institutions.

Rule coder (:func:`code_clauses`)
---------------------------------
A clause is labelled with a tool when (1) a term of the tool occurs in it (longest term first,
so 市场采购贸易方式 is not read as 采购), (2) the term is not inside a cited title 《...》,
(3) the clause carries an action cue (``data/text/cues.csv``: 建立, 支持, 推进, ...) outside
every term (so 复制推广 does not enact itself), and (4) no negation cue (不得, 暂不, 取消, ...)
precedes the term in the clause. Terms that fail a rule are kept with the reason, so every
count traces back to the words that made it. Known blind spots, measured in the book on the
synthetic corpus: an action verb that is not the clause's own commitment (得到企业支持), a
negation after the term (…不纳入支持范围), and wording the coding book lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cbec.text import TEXT_DATA_DIR

#: The three tool types, in the book's order.
TOOLS: tuple[str, ...] = ("supply", "environment", "demand")


@dataclass(frozen=True)
class Codebook:
    """The coding book: sub-tools with definitions and terms, plus the cue lists.

    Attributes
    ----------
    table
        One row per sub-tool: ``tool, subtool, subtool_zh, definition, example, terms``.
    terms
        One row per term: ``term, tool, subtool``.
    enact, negate
        Action and negation cues.
    """

    table: pd.DataFrame
    terms: pd.DataFrame
    enact: tuple[str, ...]
    negate: tuple[str, ...]

    def __post_init__(self) -> None:
        dup = self.terms["term"][self.terms["term"].duplicated()]
        if len(dup):
            raise ValueError(f"terms listed under two sub-tools: {sorted(set(dup))}")
        bad = sorted(set(self.terms["tool"]) - set(TOOLS))
        if bad:
            raise ValueError(f"unknown tools {bad}; the coding book knows {TOOLS}")
        ordered = sorted(self.terms["term"], key=lambda t: (-len(t), t))
        object.__setattr__(self, "_term_re", re.compile("|".join(map(re.escape, ordered))))
        object.__setattr__(
            self,
            "_enact_re",
            re.compile("|".join(map(re.escape, sorted(self.enact, key=len)[::-1]))),
        )
        object.__setattr__(
            self,
            "_negate_re",
            re.compile("|".join(map(re.escape, sorted(self.negate, key=len)[::-1]))),
        )
        object.__setattr__(
            self, "_where", {t: (a, s) for t, a, s in self.terms[["term", "tool", "subtool"]].itertuples(index=False)}
        )  # fmt: skip


def load_codebook(folder: str | Path | None = None) -> Codebook:
    """Read ``codebook.csv`` and ``cues.csv`` from ``folder`` (default ``data/text/``)."""
    folder = Path(folder) if folder is not None else TEXT_DATA_DIR
    table = pd.read_csv(folder / "codebook.csv", dtype=str, keep_default_na=False)
    need = ["tool", "subtool", "subtool_zh", "definition", "example", "terms"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"{folder / 'codebook.csv'}: missing columns {missing}")
    empty = table.loc[(table["definition"] == "") | (table["example"] == ""), "subtool"]
    if len(empty):
        raise ValueError(
            f"{folder / 'codebook.csv'}: sub-tools without definition or example: {list(empty)}"
        )
    terms = (
        table.assign(term=table["terms"].str.split("|"))
        .explode("term")[["term", "tool", "subtool"]]
        .assign(term=lambda d: d["term"].str.strip())
    )
    terms = terms[terms["term"] != ""].reset_index(drop=True)
    cues = pd.read_csv(folder / "cues.csv", dtype=str, keep_default_na=False)
    enact = tuple(cues.loc[cues["kind"] == "enact", "term"])
    negate = tuple(cues.loc[cues["kind"] == "negate", "term"])
    return Codebook(table=table, terms=terms, enact=enact, negate=negate)


def code_clause(text: str, book: Codebook) -> dict[str, object]:
    """Code one clause (see the module docstring).

    Returns
    -------
    dict
        ``supply``, ``environment``, ``demand`` (0/1), ``subtools`` (``;``-joined, enacted
        ones), ``matched`` (enacted terms as ``term[tool/subtool]``) and ``rejected``
        (terms found but not counted, as ``term(reason)``; reasons: ``cited``,
        ``no_action``, ``negated``).
    """
    where = book._where  # type: ignore[attr-defined]
    hits = [(m.start(), m.end(), m.group()) for m in book._term_re.finditer(text)]  # type: ignore[attr-defined]
    out: dict[str, object] = {t: 0 for t in TOOLS}
    if not hits:
        out.update(subtools="", matched="", rejected="")
        return out
    masked = list(text)
    for a, b, _ in hits:
        masked[a:b] = ["\x00"] * (b - a)
    masked_text = "".join(masked)
    has_action = book._enact_re.search(masked_text) is not None  # type: ignore[attr-defined]
    neg_pos = [m.start() for m in book._negate_re.finditer(masked_text)]  # type: ignore[attr-defined]
    cites = [(m.start(), m.end()) for m in re.finditer(r"《[^》]*》", text)]
    matched, rejected, subs = [], [], []
    for a, _b, term in hits:
        tool, sub = where[term]
        if any(c0 < a < c1 for c0, c1 in cites):
            rejected.append(f"{term}(cited)")
        elif not has_action:
            rejected.append(f"{term}(no_action)")
        elif any(p < a for p in neg_pos):
            rejected.append(f"{term}(negated)")
        else:
            out[tool] = 1
            matched.append(f"{term}[{tool}/{sub}]")
            subs.append(sub)
    out.update(
        subtools=";".join(dict.fromkeys(subs)),
        matched="; ".join(matched),
        rejected="; ".join(rejected),
    )
    return out


def code_clauses(clauses: pd.DataFrame, book: Codebook | None = None) -> pd.DataFrame:
    """Code every clause of ``clauses`` (needs ``text``); returns it with the coding columns.

    Adds ``supply``, ``environment``, ``demand`` (int 0/1), ``n_tools``, ``subtools``,
    ``matched`` and ``rejected`` (see :func:`code_clause`).
    """
    book = book if book is not None else load_codebook()
    coded = pd.DataFrame([code_clause(str(t), book) for t in clauses["text"]], index=clauses.index)
    if len(coded) == 0:
        coded = pd.DataFrame(
            columns=[*TOOLS, "subtools", "matched", "rejected"], index=clauses.index
        )
    out = pd.concat([clauses, coded], axis=1)
    for t in TOOLS:
        out[t] = out[t].fillna(0).astype("int64")
    out["n_tools"] = out[list(TOOLS)].sum(axis=1).astype("int64")
    return out


def label_class(labels: pd.DataFrame) -> pd.Series:
    """One class per clause from its 0/1 tool columns: ``none``, a tool name or ``mixed``."""
    arr = labels[list(TOOLS)].to_numpy(dtype=int)
    n = arr.sum(axis=1)
    first = np.array(TOOLS, dtype=object)[arr.argmax(axis=1)]
    return pd.Series(np.where(n == 0, "none", np.where(n > 1, "mixed", first)), index=labels.index)


#: Classes of :func:`label_class`, in the order of the confusion matrix.
CLASSES: tuple[str, ...] = ("none", *TOOLS, "mixed")


def agreement(truth: pd.DataFrame, coded: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and Cohen's kappa per tool of ``coded`` against ``truth``.

    Both frames carry 0/1 columns :data:`TOOLS` on the same index. Returns one row per tool
    plus ``micro`` (all tool decisions pooled): ``tp, fp, fn, tn, precision, recall, f1,
    kappa, agreement`` (share of clauses on which the two agree).
    """
    rows = []
    pooled = np.zeros(4)
    for t in [*TOOLS, "micro"]:
        if t == "micro":
            tp, fp, fn, tn = pooled
        else:
            a = truth[t].to_numpy(dtype=int)
            b = coded[t].to_numpy(dtype=int)
            tp, fp = float(((a == 1) & (b == 1)).sum()), float(((a == 0) & (b == 1)).sum())
            fn, tn = float(((a == 1) & (b == 0)).sum()), float(((a == 0) & (b == 0)).sum())
            pooled += (tp, fp, fn, tn)
        n = tp + fp + fn + tn
        prec = tp / (tp + fp) if tp + fp else np.nan
        rec = tp / (tp + fn) if tp + fn else np.nan
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan
        po = (tp + tn) / n if n else np.nan
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2 if n else np.nan
        kappa = (po - pe) / (1 - pe) if n and pe < 1 else np.nan
        rows.append({"tool": t, "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
                     "precision": prec, "recall": rec, "f1": f1, "kappa": kappa, "agreement": po})  # fmt: skip
    return pd.DataFrame(rows)


def confusion(truth: pd.DataFrame, coded: pd.DataFrame) -> pd.DataFrame:
    """Confusion matrix of :func:`label_class` classes: rows true, columns coded."""
    t = pd.Categorical(label_class(truth), categories=CLASSES)
    c = pd.Categorical(label_class(coded), categories=CLASSES)
    m = pd.crosstab(t, c, dropna=False).reindex(
        index=list(CLASSES), columns=list(CLASSES), fill_value=0
    )
    m.index.name, m.columns.name = "true", "coded"
    return m
