"""The paper's claims beside the replication: where the book tests each, and with what result.

:data:`CLAIMS` lists every claim of Zhang, Chen, Zhu and Yan (2023) that our sources state
(``../shared/PAPER.md``: the abstract and a second-hand reading of the method section). The
paper's own coefficients and standard errors are not in those sources, so no claim carries
a number the paper did not print there: where a value is unknown the table says so.

A chapter notebook that tests a claim calls :func:`record` with a verdict computed on its
run; the record is a small JSON file in the output folder (``claims_<id>.json``). The book's
tables (:func:`claims_table`, :func:`markdown`) read the records of the current build for
the profile it ran on, and the committed aggregate records of the other profile from
``data/real_results/`` (real panel) or ``data/twin_results/`` (twin), when present; a claim
without a record reads "not yet computed". Verdicts are aggregate statements (a sign, a
p-value, a count), never rows of data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbec.outputs.publish import REPO_ROOT, output_dir

#: Verdicts a record may carry.
STATUSES = ("consistent", "not consistent", "partly consistent", "not testable", "not yet computed")

#: Committed aggregate records of a build on each profile (written by a maintainer).
COMMITTED = {
    "real": REPO_ROOT / "data" / "real_results",
    "twin": REPO_ROOT / "data" / "twin_results",
}

NOT_YET = "not yet computed"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes
    ----------
    key
        Identifier used by :func:`record` (``"n"``, ``"baseline"``...).
    topic
        Short name (sample, baseline, pre-trends...).
    paper
        What the paper says, in our words.
    paper_value
        The paper's number, when our sources state one; otherwise a sentence saying it is
        not public in our sources.
    source
        ``"paper"`` (method section as read), ``"abstract"`` or ``"derived"`` (arithmetic).
    chapter
        Chapter number that tests it.
    where
        MyST reference to the table or figure that tests it (or the chapter).
    """

    key: str
    topic: str
    paper: str
    paper_value: str
    source: str
    chapter: int
    where: str


_NOT_PUBLIC = "not public in our sources"

#: Every claim of the paper that our sources state, in the order of the paper.
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "sample",
        "Sample",
        "254 prefecture-level cities, 2010-2019: 55 pilot cities of batches 1-4 and 199 others",
        "254 cities, 55 pilots",
        "paper",
        1,
        "{numref}`tab-sample`",
    ),
    Claim(
        "n",
        "Observations",
        "153,230 pair-years: unordered pairs without pilot-pilot pairs, weak ties dropped",
        "153,230",
        "paper",
        1,
        "{numref}`tab-sample`",
    ),
    Claim(
        "baseline",
        "Baseline",
        "the pilot areas significantly raise the business-cycle synchronization of pilot "
        "and non-pilot cities (positive, significant DID coefficient): window radiation",
        f"sign positive, significant; coefficient and standard error {_NOT_PUBLIC}",
        "abstract",
        2,
        "{numref}`tab-baseline`",
    ),
    Claim(
        "pretrends",
        "Parallel pre-trends",
        "the event study shows no significant differences before designation",
        f"event-study coefficients {_NOT_PUBLIC}",
        "paper",
        3,
        "{numref}`tab-event-study`",
    ),
    Claim(
        "robustness",
        "Robustness",
        "the result survives propensity-score matching (PSM-DID) and sample-window checks",
        f"estimates {_NOT_PUBLIC}",
        "paper",
        3,
        "{numref}`tab-robustness`",
    ),
    Claim(
        "heterogeneity",
        "Heterogeneity",
        "the effect differs with the pair's regional distribution, human capital, "
        "financial development and information infrastructure",
        f"group estimates {_NOT_PUBLIC}",
        "abstract",
        4,
        "chapter 4",
    ),
    Claim(
        "mechanisms",
        "Mechanisms",
        "the pilot areas work through a leading demonstration effect of institutional "
        "innovation and through resource reallocation",
        f"mechanism estimates {_NOT_PUBLIC}",
        "abstract",
        5,
        "chapter 5",
    ),
    Claim(
        "policy_tools",
        "Policy tools",
        "supply-, environment- and demand-oriented policy tools all promote coordinated "
        "development",
        f"tool intensities and estimates {_NOT_PUBLIC}",
        "abstract",
        6,
        "chapter 6",
    ),
)

_BY_KEY = {c.key: c for c in CLAIMS}


def record(
    key: str,
    status: str,
    detail: str,
    profile: str,
    *,
    values: Mapping[str, Any] | None = None,
    folder: str | Path | None = None,
) -> dict[str, Any]:
    """Record the verdict of this run on one claim (``claims_<key>.json``) and return it.

    Parameters
    ----------
    key
        A key of :data:`CLAIMS`.
    status
        One of :data:`STATUSES`, computed from the run's results.
    detail
        One sentence with the computed numbers ("DID 0.041 (p < 0.001)").
    profile
        ``"twin"`` or ``"real"``: the data the run used.
    values
        Aggregate numbers behind the verdict (kept in the record, not shown).
    folder
        Output folder (default :func:`cbec.outputs.publish.output_dir`).
    """
    if key not in _BY_KEY:
        raise ValueError(f"unknown claim {key!r}; known: {', '.join(_BY_KEY)}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if profile not in ("twin", "real"):
        raise ValueError(f"profile must be 'twin' or 'real', got {profile!r}")
    rec = {
        "claim": key,
        "status": status,
        "detail": detail,
        "profile": profile,
        "values": {k: _plain(v) for k, v in (values or {}).items()},
    }
    out = Path(folder) if folder is not None else output_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"claims_{key}.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    return rec


def _plain(value: Any) -> Any:
    try:
        return value.item()  # numpy scalars
    except AttributeError:
        return value


def load_records(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The claim records in ``folder`` (``claims_*.json``), keyed by claim; {} if none."""
    folder = Path(folder)
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("claims_*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if rec.get("claim") in _BY_KEY:
            out[rec["claim"]] = rec
    return out


def derived_records(folder: str | Path, profile: str, level: float = 0.05) -> dict[str, Any]:
    """Verdicts read from the machine-readable tables of a build, for claims without a record.

    The chapter notebooks that test the baseline, the pre-trends and the robustness checks
    write full-precision CSVs; when they did not call :func:`record`, the verdicts come
    from those files (a record always wins, see :func:`load_all`):

    ``baseline``
        ``tab_se_clustering.csv``: the model with controls (else the first) with standard
        errors clustered by pilot city (the paper's "by city"). Consistent when the coefficient
        is positive and its p-value below ``level``.
    ``pretrends``
        ``tab_event_study.csv``: the leads (event time below -1); consistent when no
        pointwise 95% interval excludes zero (a joint pre-test, when the chapter records
        one, replaces this).
    ``robustness``
        ``tab_robustness_full.csv``: how many rows are positive with p below ``level``.
    """
    import numpy as np
    import pandas as pd

    from cbec.outputs.report import format_p

    folder = Path(folder)
    out: dict[str, Any] = {}
    pct = f"{100 * level:g}%"

    def add(key: str, status: str, detail: str, source: str) -> None:
        out[key] = {"claim": key, "status": status, "profile": profile,
                    "detail": f"{detail} (from {source})"}  # fmt: skip

    path = folder / "tab_se_clustering.csv"
    if path.is_file():
        t = pd.read_csv(path)
        if {"coef", "pvalue"} <= set(t.columns) and len(t):
            rows = t[t.get("vcov", pd.Series(dtype=str)) == "pilot_city"]
            rows = rows if len(rows) else t
            # the model with controls (as in the paper) when the table has one
            model = rows.get("model", pd.Series("", index=rows.index)).astype(str)
            with_controls = rows[model.str.contains("control") & ~model.str.contains("no control")]
            row = (with_controls if len(with_controls) else rows).iloc[0]
            b, p = float(row["coef"]), float(row["pvalue"])
            ok = b > 0 and p < level
            add("baseline", "consistent" if ok else "not consistent",
                f"DID {b:.3f}, p {format_p(p)}", path.name)  # fmt: skip
    path = folder / "tab_event_study.csv"
    if path.is_file():
        t = pd.read_csv(path)
        if {"event_time", "ci_low", "ci_high"} <= set(t.columns):
            leads = t[t["event_time"] < -1]
            off = int(((leads["ci_low"] > 0) | (leads["ci_high"] < 0)).sum())
            if len(leads):
                add("pretrends", "consistent" if off == 0 else "not consistent",
                    f"{off} of {len(leads)} leads have a 95% interval that excludes zero",
                    path.name)  # fmt: skip
    path = folder / "tab_robustness_full.csv"
    if path.is_file():
        t = pd.read_csv(path)
        if {"coef", "p"} <= set(t.columns) and len(t):
            good = int(((t["coef"] > 0) & (t["p"] < level)).sum())
            n = int(np.isfinite(t["coef"]).sum())
            status = ("consistent" if good == n else "not consistent" if good == 0
                      else "partly consistent")  # fmt: skip
            add("robustness", status,
                f"{good} of {n} checks positive and significant at {pct}", path.name)  # fmt: skip
    return out


def real_records(results: Mapping[str, Any] | None, sample: str = "default") -> dict[str, Any]:
    """Verdicts from the committed real-panel aggregates (``data/real_results/results.json``,
    :mod:`cbec.outputs.realresults`), for the default real-profile sample; {} without them."""
    from cbec.outputs.report import format_p

    node = ((results or {}).get("samples") or {}).get(sample)
    if not node:
        return {}
    out: dict[str, Any] = {}
    where = "committed results" if sample == "default" else f"committed results, {sample}"

    def add(key: str, status: str, detail: str) -> None:
        out[key] = {"claim": key, "status": status, "detail": f"{detail} ({where})",
                    "profile": "real"}  # fmt: skip

    smp = node.get("sample") or {}
    if "cities" in smp and "pilots" in smp:
        same = (smp["cities"], smp["pilots"]) == (254, 55)
        add("sample", "consistent" if same else "not consistent",
            f"{smp['cities']:,} cities, {smp['pilots']:,} pilots")  # fmt: skip
    if "pair_years" in smp:
        add("n", "consistent" if smp["pair_years"] == 153230 else "not consistent",
            f"{smp['pair_years']:,} pair-years")  # fmt: skip
    did = node.get("did") or {}
    fit = (did.get("controls") or did.get("no_controls") or {}).get("pilot_city")
    if fit and fit.get("coef") is not None and fit.get("p") is not None:
        ok = fit["coef"] > 0 and fit["p"] < 0.05
        add("baseline", "consistent" if ok else "not consistent",
            f"DID {fit['coef']:.3f}, p {format_p(fit['p'])}, clustered by pilot city")  # fmt: skip
    es = node.get("event_study") or {}
    if es.get("pretest_p") is not None:
        p = es["pretest_p"]
        add("pretrends", "consistent" if p >= 0.05 else "not consistent",
            f"joint pre-trend test p {format_p(p)}")  # fmt: skip
    rows = [r for r in node.get("robustness") or [] if r.get("coef") is not None]
    if rows:
        good = sum(1 for r in rows if r["coef"] > 0 and (r.get("p") or 1.0) < 0.05)
        status = ("consistent" if good == len(rows) else "not consistent" if good == 0
                  else "partly consistent")  # fmt: skip
        add("robustness", status, f"{good} of {len(rows)} checks positive and significant at 5%")
    return out


def committed_records(profile: str) -> dict[str, dict[str, Any]]:
    """The other profile's verdicts: committed claim records, else (real) the aggregates."""
    folder = COMMITTED.get(profile)
    recs = load_records(folder) if folder is not None else {}
    if profile == "real":
        from cbec.outputs import realresults

        recs = {**real_records(realresults.load()), **recs}
    return recs


def load_all(folder: str | Path, profile: str) -> dict[str, dict[str, Any]]:
    """The records of a build: :func:`derived_records`, overridden by explicit records."""
    return {**derived_records(folder, profile), **load_records(folder)}


def _cell(rec: Mapping[str, Any] | None) -> str:
    if not rec:
        return NOT_YET
    return f"{rec['status']}: {rec['detail']}"


def claims_table(
    build_records: Mapping[str, Mapping[str, Any]],
    profile: str,
    chapters: Iterable[int] | None = None,
    committed: Mapping[str, Path] | None = None,
) -> list[dict[str, str]]:
    """Rows of the claims table: claim, what the paper says (with its source and number, where
    our sources state one), where the book tests it, the verdict on the twin and on the real panel.

    ``build_records`` are the records of the current build (on ``profile``); the other
    profile's column comes from the committed records (:data:`COMMITTED`), else
    "not yet computed". ``chapters`` keeps only the claims those chapters test.
    """
    other = "real" if profile == "twin" else "twin"
    if committed is None:
        other_records = committed_records(other)
    else:
        other_records = load_records(committed[other]) if other in committed else {}
    keep = set(chapters) if chapters is not None else None
    rows = []
    for c in CLAIMS:
        if keep is not None and c.chapter not in keep:
            continue
        here = {k: v for k, v in build_records.items() if v.get("profile") == profile}
        by_profile = {profile: here.get(c.key), other: other_records.get(c.key)}
        rows.append(
            {
                "Claim": c.topic,
                "The paper says": f"{c.paper} [{c.source}]; number: {c.paper_value}",
                "Tested in": c.where,
                "On the twin": _cell(by_profile["twin"]),
                "On the real panel": _cell(by_profile["real"]),
            }
        )
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    """The rows as a MyST pipe table (roles such as ``{numref}`` kept as they are)."""
    if not rows:
        return ""
    header = list(rows[0])

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(esc(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)
