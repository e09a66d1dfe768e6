"""A second, independent coder: a supervised classifier trained on labelled clauses.

The rule coder (:mod:`cbec.text.codebook`) reads the coding book. The second coder never sees
it: it learns, from clauses with known labels, one logistic regression per tool on the counts
of jieba words and word pairs of each clause (scikit-learn's ``CountVectorizer`` on the words
of :func:`cbec.text.segment.cut_many`, ``LogisticRegression`` (liblinear) with the L2 penalty and
``C=1``, class weights balanced). Trained on one part of the synthetic corpus (split by
document, so that no document has clauses on both sides) and applied to the other, it gives the
inter-coder check of chapter 6: where the two coders disagree clause by clause, and how each
fares against the known labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbec.text.codebook import TOOLS
from cbec.text.segment import cut_many


def _identity(x: list[str]) -> list[str]:
    return x


@dataclass
class ClauseClassifier:
    """A fitted bag-of-words classifier, one binary model per tool."""

    vectorizer: object
    models: dict[str, object]

    def predict(self, texts: pd.Series | list[str]) -> pd.DataFrame:
        """0/1 labels per tool for ``texts`` (index kept when a Series is given)."""
        index = texts.index if isinstance(texts, pd.Series) else None
        X = self.vectorizer.transform(cut_many(list(texts)))  # type: ignore[attr-defined]
        out = {t: m.predict(X).astype("int64") for t, m in self.models.items()}  # type: ignore[attr-defined]
        return pd.DataFrame(out, index=index)


def train_classifier(texts: pd.Series | list[str], labels: pd.DataFrame) -> ClauseClassifier:
    """Fit one logistic regression per tool on word and word-pair counts of ``texts``."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=_identity_bigrams, min_df=2)
    X = vec.fit_transform(cut_many(list(texts)))
    models = {}
    for t in TOOLS:
        y = np.asarray(labels[t], dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError(f"tool {t!r} has one class only in the training clauses")
        models[t] = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear").fit(X, y)
    return ClauseClassifier(vectorizer=vec, models=models)


def _identity_bigrams(words: list[str]) -> list[str]:
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


def split_by_document(doc_ids: pd.Series, share: float, seed: int) -> np.ndarray:
    """Boolean mask of training clauses: a random ``share`` of the documents, whole."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    docs = np.sort(pd.unique(doc_ids))
    rng = np.random.default_rng([seed, 62])
    train_docs = set(rng.choice(docs, size=max(1, int(round(share * len(docs)))), replace=False))
    return doc_ids.isin(train_docs).to_numpy()
