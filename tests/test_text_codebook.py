"""The coding book, the rule coder, the agreement measures, the synthetic corpus, the classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbec.text import classifier, codebook, synthetic

BOOK = codebook.load_codebook()


def test_codebook_has_definition_and_example_per_subtool() -> None:
    t = BOOK.table
    assert set(t["tool"]) == set(codebook.TOOLS)
    assert t.groupby("tool").size().to_dict() == {"supply": 5, "environment": 5, "demand": 4}
    assert (t["definition"].str.len() > 20).all() and (t["example"].str.len() > 5).all()
    # each example is coded as its own tool by the rule coder
    for r in t.itertuples():
        got = codebook.code_clause(r.example.rstrip("。"), BOOK)
        assert got[r.tool] == 1, r.example


@pytest.mark.parametrize(
    ("text", "labels", "reason"),
    [
        ("支持企业建设海外仓", {"demand": 1}, ""),
        ("统筹推进海外仓和专项资金", {"demand": 1, "supply": 1}, ""),
        ("海外仓是跨境电商发展的重要环节", {}, "no_action"),
        ("根据《关于融资的指导意见》精神，推进工作", {}, "cited"),
        ("暂不设立专项资金", {}, "negated"),
        ("推广市场采购贸易方式", {"demand": 1}, ""),  # not 采购 -> procurement
        ("形成可复制推广的经验", {}, "no_action"),  # 推广 inside the term does not enact it
    ],
)
def test_rules(text: str, labels: dict, reason: str) -> None:
    got = codebook.code_clause(text, BOOK)
    assert {t: got[t] for t in codebook.TOOLS} == {t: labels.get(t, 0) for t in codebook.TOOLS}
    if reason:
        assert f"({reason})" in got["rejected"]
    if labels:
        assert got["matched"]


def test_market_procurement_is_trade_facilitation() -> None:
    got = codebook.code_clause("推广市场采购贸易方式", BOOK)
    assert got["subtools"] == "trade_facilitation"


def test_agreement_against_hand_counts() -> None:
    truth = pd.DataFrame({"supply": [1, 1, 0, 0, 1], "environment": 0, "demand": [0, 0, 0, 1, 0]})
    coded = pd.DataFrame({"supply": [1, 0, 1, 0, 1], "environment": 0, "demand": [0, 0, 0, 1, 1]})
    a = codebook.agreement(truth, coded).set_index("tool")
    # supply: tp 2, fp 1, fn 1, tn 1
    assert a.loc["supply", ["tp", "fp", "fn", "tn"]].tolist() == [2, 1, 1, 1]
    assert a.loc["supply", "precision"] == pytest.approx(2 / 3)
    assert a.loc["supply", "f1"] == pytest.approx(2 / 3)
    po, pe = 3 / 5, (3 * 3 + 2 * 2) / 25
    assert a.loc["supply", "kappa"] == pytest.approx((po - pe) / (1 - pe))
    from sklearn.metrics import cohen_kappa_score, f1_score

    assert a.loc["demand", "kappa"] == pytest.approx(
        cohen_kappa_score(truth["demand"], coded["demand"])
    )
    micro = f1_score(truth[list(codebook.TOOLS)], coded[list(codebook.TOOLS)], average="micro")
    assert a.loc["micro", "f1"] == pytest.approx(micro)


def test_confusion_classes() -> None:
    truth = pd.DataFrame({"supply": [1, 1, 0], "environment": [0, 1, 0], "demand": 0})
    coded = pd.DataFrame({"supply": [1, 0, 0], "environment": [0, 1, 0], "demand": [0, 0, 1]})
    m = codebook.confusion(truth, coded)
    assert m.loc["supply", "supply"] == 1 and m.loc["mixed", "environment"] == 1
    assert m.loc["none", "demand"] == 1 and m.to_numpy().sum() == 3


def _universe() -> pd.DataFrame:
    from cbec.data.reference import load_cities

    c = load_cities().head(30).copy()
    c["pilot"] = False
    c.loc[c.index[:8], "pilot"] = True
    c["batch"] = [1, 2, 2, 3, 3, 3, 4, 4] + [pd.NA] * 22
    c["treat_year"] = [2015, 2016, 2016, 2018, 2018, 2018, 2019, 2019] + [pd.NA] * 22
    return c


def test_synthetic_corpus_labels_and_intensities() -> None:
    u = _universe()
    sc = synthetic.synthetic_corpus(u, window=(2010, 2019), seed=3)
    assert sc.tools["source"].eq("seed").all() and len(sc.tools) == 8
    # every document's clauses carry labels; only enacting and mixed templates carry tools
    lab = sc.clauses[list(codebook.TOOLS)].sum(axis=1)
    assert (lab[sc.clauses["kind"].isin(["mention", "negation", "neutral"])] == 0).all()
    assert (lab[sc.clauses["kind"] == "mixed"] == 2).all()
    assert (lab[sc.clauses["kind"] == "enact"] == 1).all()
    assert sc.docs["year"].between(2010, 2019).all()
    # the same seed gives the same corpus
    again = synthetic.synthetic_corpus(u, window=(2010, 2019), seed=3)
    pd.testing.assert_frame_equal(sc.clauses, again.clauses)


def test_twin_intensities_are_used_when_present() -> None:
    u = _universe()
    pil = u.loc[u["pilot"], "city_id"].to_numpy()
    rng = np.random.default_rng(0)
    twin = pd.DataFrame(rng.standard_normal((8, 3)), columns=list(codebook.TOOLS)).assign(
        city_id=pil
    )
    t = synthetic.pilot_tools(u, {"policy_tools": twin}, seed=1)
    assert t["source"].eq("twin").all()
    z = (twin["supply"] - twin["supply"].mean()) / twin["supply"].std(ddof=0)
    np.testing.assert_allclose(t.set_index("city_id")["supply"].to_numpy(), z.to_numpy())


@pytest.mark.slow
def test_rule_coder_and_classifier_on_the_synthetic_corpus() -> None:
    u = _universe()
    sc = synthetic.synthetic_corpus(u, window=(2010, 2019), seed=5)
    coded = codebook.code_clauses(sc.clauses[["clause_id", "doc_id", "text"]])
    q = codebook.agreement(sc.clauses, coded).set_index("tool")
    assert 0.9 < q.loc["micro", "precision"] < 1.0  # the hard confounders cost precision
    assert 0.75 < q.loc["micro", "recall"] < 0.95  # wording the book lacks costs recall
    train = classifier.split_by_document(sc.clauses["doc_id"], 0.5, 1)
    assert 0 < train.mean() < 1
    assert not set(sc.clauses.loc[train, "doc_id"]) & set(sc.clauses.loc[~train, "doc_id"])
    clf = classifier.train_classifier(sc.clauses.loc[train, "text"], sc.clauses.loc[train])
    pred = clf.predict(sc.clauses.loc[~train, "text"])
    assert (
        codebook.agreement(sc.clauses.loc[~train], pred).set_index("tool").loc["micro", "f1"] > 0.6
    )


def test_synthetic_tool_mix_follows_the_intensities() -> None:
    from cbec.analyses import policytools as pt
    from cbec.spec import Spec

    u = _universe()
    u["pilot"] = True
    u["batch"] = [1 + k % 4 for k in range(30)]
    u["treat_year"] = [(2015, 2016, 2018, 2019)[k % 4] for k in range(30)]
    sc = synthetic.synthetic_corpus(u, window=(2010, 2019), seed=11)
    cy = pt.city_year_intensity(sc.clauses, sc.docs, Spec())  # true labels, no coder error
    it = pt.pilot_intensity(cy, Spec(), u["city_id"]).merge(sc.tools, on="city_id")
    for t in codebook.TOOLS:
        assert np.corrcoef(it[f"z_{t}"], it[t])[0, 1] > 0.5, t
