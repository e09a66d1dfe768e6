"""Sentences, clauses and jieba words of policy prose; jieba's cache stays in the build folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cbec.text import segment


def test_sentences_and_clauses() -> None:
    text = "一、总体要求：（一）指导思想。1.推广9610、9710模式；2、建设海外仓。一是加强人才培养，二是完善单一窗口。增长1.5倍！"
    got = [c for s in segment.split_sentences(text) for c in segment.split_clauses(s)]
    assert got == ["总体要求", "指导思想", "推广9610、9710模式", "建设海外仓", "加强人才培养",
                   "完善单一窗口", "增长1.5倍"]  # fmt: skip


def test_no_false_markers() -> None:
    for s in ["统一是关键", "第一是原则", "受理1210业务", "(国函〔2018〕93号)精神"]:
        assert segment.split_clauses(s) == [s]


def test_clause_table_ids() -> None:
    import pandas as pd

    t = segment.clause_table(pd.DataFrame({"doc_id": ["d"], "text": ["甲；乙。丙。"]}))
    assert t["clause_id"].tolist() == ["d:1.1", "d:1.2", "d:2.1"]
    assert t["text"].tolist() == ["甲", "乙", "丙"]


def test_user_dictionary_keeps_domain_terms_whole() -> None:
    w = segment.words("支持企业建设海外仓，推广市场采购贸易方式和9610模式，完善单一窗口")
    for term in ("海外仓", "市场采购贸易方式", "9610", "单一窗口"):
        assert term in w


def test_jieba_cache_in_build_folder_not_system_temp(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(segment.ENV_JIEBA_CACHE, str(tmp_path / "cache"))
    segment._tokenizer.cache_clear()
    tk = segment.tokenizer()
    assert Path(tk.tmp_dir) == tmp_path / "cache"
    assert (tmp_path / "cache" / "jieba.cache").exists()
    assert not str(tk.tmp_dir).startswith(tempfile.gettempdir() + "/jieba")
    segment._tokenizer.cache_clear()


def test_cache_follows_output_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(segment.ENV_JIEBA_CACHE, raising=False)
    monkeypatch.setenv("CBEC_OUTPUT_DIR", str(tmp_path / "build" / "outputs"))
    assert segment.jieba_cache_dir() == (tmp_path / "build" / "cache" / "jieba").resolve()


def test_paddle_never_enabled() -> None:
    src = Path(segment.__file__).read_text(encoding="utf-8")
    assert "enable_paddle(" not in src


def test_cache_of_a_staged_run_stays_in_the_build_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(segment.ENV_JIEBA_CACHE, raising=False)
    monkeypatch.setenv("CBEC_OUTPUT_DIR", str(tmp_path / "build" / ".stage-123" / "outputs"))
    assert segment.jieba_cache_dir() == (tmp_path / "build" / "cache" / "jieba").resolve()
