"""Segment Chinese policy prose into sentences, clauses and words.

Clauses are the unit of coding. A sentence ends at 。！？ or a line break; a clause ends at
；; or ：: inside a sentence, and a new clause starts at every enumeration marker of Chinese
policy documents: （一） / (一), 一、, 1. / 1、 / 1．, and 一是 / 二是 .... Numbers such as
the customs codes 9610 or a decimal 1.5 are not markers. Commas do not split: a list of
measures joined by 、 or ， stays one clause, so a clause can carry several tools.

Words come from jieba (Sun 2012-) with the repository's user dictionary
``data/text/userdict.txt`` (海外仓, 单一窗口, 9610, 市场采购贸易方式, ...), in a private
``jieba.Tokenizer`` so that no global state of jieba is touched. jieba writes a cache of its
prefix dictionary; it goes to :func:`jieba_cache_dir` (inside the build folder), never to
the system temporary folder. Paddle mode is never enabled.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

from cbec.text import TEXT_DATA_DIR

#: Environment variable naming jieba's cache folder (else derived from ``CBEC_OUTPUT_DIR``).
ENV_JIEBA_CACHE = "CBEC_JIEBA_CACHE"

_SENTENCE_END = re.compile(r"[。！？!?\n]+")
_CLAUSE_END = re.compile(r"[；;：:]+")
_ENUM = re.compile(
    r"(?:[（(][一二三四五六七八九十]{1,3}[）)]"  # （一） (一)
    r"|(?<![\d.．A-Za-z])\d{1,2}[.、．](?!\d)"  # 1. 1、 (not 1.5, not 9610)
    r"|(?<![一二三四五六七八九十第统单同唯])[一二三四五六七八九十]{1,3}是"  # 一是 (not 统一是)
    r"|(?<![一二三四五六七八九十第])[一二三四五六七八九十]{1,3}、)"  # 一、
)
_ONLY_PUNCT = re.compile(r"^[\s\W_]*$")
_MARK = "\x00"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (at 。！？ and line breaks), stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def split_clauses(sentence: str) -> list[str]:
    """Clauses of one sentence: split at ；： and before enumeration markers (removed).

    Fragments holding only punctuation or white space are not clauses.
    """
    marked = _ENUM.sub(lambda m: _MARK, sentence)
    out = []
    for part in _CLAUSE_END.split(marked):
        for piece in part.split(_MARK):
            piece = piece.strip(" \t，,、　")
            if piece and not _ONLY_PUNCT.match(piece):
                out.append(piece)
    return out


def clause_table(docs: pd.DataFrame) -> pd.DataFrame:
    """One row per clause of every document.

    Parameters
    ----------
    docs
        Frame with ``doc_id`` and ``text`` (:attr:`cbec.text.corpus.Corpus.docs`).

    Returns
    -------
    DataFrame
        ``clause_id`` (``<doc_id>:<sentence>.<clause>``), ``doc_id``, ``sentence``,
        ``clause`` (1-based numbers) and ``text``.
    """
    rows = []
    for doc_id, text in zip(docs["doc_id"], docs["text"], strict=True):
        for s, sent in enumerate(split_sentences(str(text)), start=1):
            for c, cl in enumerate(split_clauses(sent), start=1):
                rows.append((f"{doc_id}:{s}.{c}", doc_id, s, c, cl))
    return pd.DataFrame(rows, columns=["clause_id", "doc_id", "sentence", "clause", "text"])


# --------------------------------------------------------------------------- words
def jieba_cache_dir() -> Path:
    """Folder of jieba's dictionary cache, created if missing.

    ``$CBEC_JIEBA_CACHE`` when set; else ``<build folder>/cache/jieba``, the build folder being
    the parent of ``$CBEC_OUTPUT_DIR`` (or of the runner's ``.stage-<pid>`` folder there);
    else ``<repo>/_build/cache/jieba``.
    """
    if os.environ.get(ENV_JIEBA_CACHE):
        path = Path(os.environ[ENV_JIEBA_CACHE]).expanduser()
    elif os.environ.get("CBEC_OUTPUT_DIR"):
        base = Path(os.environ["CBEC_OUTPUT_DIR"]).expanduser().resolve().parent
        if base.name.startswith(".stage-"):  # the runner's staging folder: keep it in the build
            base = base.parent
        path = base / "cache" / "jieba"
    else:
        path = TEXT_DATA_DIR.parents[1] / "_build" / "cache" / "jieba"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=4)
def _tokenizer(userdict: str, cache_dir: str):  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" lines on stderr
    tk = jieba.Tokenizer()
    tk.tmp_dir = cache_dir
    tk.cache_file = "jieba.cache"
    tk.initialize()
    tk.load_userdict(userdict)
    return tk


def tokenizer(userdict: str | Path | None = None):  # type: ignore[no-untyped-def]
    """A ``jieba.Tokenizer`` with the user dictionary, caching into :func:`jieba_cache_dir`."""
    path = Path(userdict) if userdict is not None else TEXT_DATA_DIR / "userdict.txt"
    return _tokenizer(str(path.resolve()), str(jieba_cache_dir().resolve()))


def words(text: str, userdict: str | Path | None = None) -> list[str]:
    """jieba words of ``text`` (precise mode, HMM on), punctuation and spaces removed."""
    tk = tokenizer(userdict)
    return [w for w in tk.lcut(text, HMM=True) if w.strip() and not _ONLY_PUNCT.match(w)]


def cut_many(texts: Iterable[str], userdict: str | Path | None = None) -> list[list[str]]:
    """:func:`words` of many texts with one tokenizer."""
    tk = tokenizer(userdict)
    return [
        [w for w in tk.lcut(t, HMM=True) if w.strip() and not _ONLY_PUNCT.match(w)] for t in texts
    ]
