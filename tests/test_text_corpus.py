"""Corpus loader: every problem raises with the file named, or is audited; nothing is dropped."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from cbec.text import corpus

HANGZHOU = 330100
TEXT = "（一）支持企业建设海外仓。二是完善单一窗口；推广9610模式。"


def _write(folder: Path, rows: list[dict], texts: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in texts.items():
        (folder / name).write_bytes(raw)
    pd.DataFrame(rows, columns=list(corpus.MANIFEST_COLUMNS)).to_csv(
        folder / "manifest.csv", index=False
    )
    return folder


def _row(doc_id: str, **kw: str) -> dict:
    base = {
        "doc_id": doc_id,
        "file": f"{doc_id}.txt",
        "title": "方案",
        "issuer": "杭州市人民政府",
        "level": "city",
        "date": "2016-05-01",
        "cities": str(HANGZHOU),
        "source": "test",
    }
    base.update(kw)
    return base


def test_reads_utf8_and_gb18030_with_header(tmp_path: Path) -> None:
    hdr = "# SOURCE: x\n# DOCUMENT: y\n# ---\n"
    folder = _write(
        tmp_path / "c",
        [_row("a"), _row("b", cities="杭州")],
        {"a.txt": (hdr + TEXT).encode("utf-8"), "b.txt": TEXT.encode("gb18030")},
    )
    c = corpus.load_corpus(folder, window=(2010, 2019))
    assert list(c.docs["encoding"]) == ["utf-8", "gb18030"]
    assert c.docs["text"].tolist() == [TEXT, TEXT]
    assert c.docs["meta"].iloc[0] == {"source": "x", "document": "y"}
    assert c.docs["city_ids"].tolist() == [(HANGZHOU,), (HANGZHOU,)]
    assert c.audit.empty


@pytest.mark.parametrize(
    ("rows", "texts", "reason", "named"),
    [
        (
            [_row("a")],
            {"a.txt": "Ça coûte très cher à Paris".encode("cp1252")},
            "bad_encoding",
            "a.txt",
        ),
        ([_row("a")], {"a.txt": TEXT.encode("utf-16")}, "bad_encoding", "a.txt"),
        ([_row("a")], {"a.txt": b"  \n\n"}, "empty_file", "a.txt"),
        (
            [_row("a")],
            {"a.txt": TEXT.encode(), "stray.txt": TEXT.encode()},
            "not_in_manifest",
            "stray.txt",
        ),
        ([_row("a"), _row("gone")], {"a.txt": TEXT.encode()}, "no_document", "gone.txt"),
        ([_row("a", cities="亚特兰蒂斯")], {"a.txt": TEXT.encode()}, "unknown_city", "a.txt"),
        ([_row("a", date="2023-05-18")], {"a.txt": TEXT.encode()}, "date_outside", "a.txt"),
        ([_row("a", level="county")], {"a.txt": TEXT.encode()}, "bad_manifest", "a.txt"),
    ],
)
def test_each_problem_raises_naming_the_file_or_is_audited(
    tmp_path: Path, rows: list[dict], texts: dict, reason: str, named: str
) -> None:
    folder = _write(tmp_path / "c", rows, texts)
    with pytest.raises(corpus.CorpusError) as err:
        corpus.load_corpus(folder, window=(2010, 2019))
    assert named in str(err.value) and reason in str(err.value)
    c = corpus.load_corpus(folder, window=(2010, 2019), on_error="audit")
    assert reason in set(c.audit["reason"])
    assert named in set(c.audit["file"])
    # nothing dropped silently: every manifest row and file is either kept or audited
    kept = set(c.docs["file"])
    listed = {r["file"] for r in rows} | set(texts)
    assert listed <= kept | set(c.audit["file"])


def test_unknown_city_of_a_multi_city_document_leaves_only_that_city(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "c", [_row("a", cities=f"{HANGZHOU};雄安新区")], {"a.txt": TEXT.encode()}
    )
    c = corpus.load_corpus(folder, on_error="audit")
    assert c.docs["city_ids"].tolist() == [(HANGZHOU,)]
    assert c.audit[["reason", "action"]].values.tolist() == [["unknown_city", "city left out"]]


def test_decode_rejects_latin_text_and_accepts_gb18030() -> None:
    assert corpus.decode_bytes("海外仓".encode("gb18030")) == ("海外仓", "gb18030")
    with pytest.raises(UnicodeError):
        corpus.decode_bytes(bytes(range(0xA0, 0xFF)) * 3 + b"\x80")


def test_round_trip_of_write_corpus(tmp_path: Path) -> None:
    docs = pd.DataFrame([{**_row("a"), "text": TEXT, "city_ids": (HANGZHOU,)}]).drop(
        columns="cities"
    )
    corpus.write_corpus(docs, tmp_path / "w")
    c = corpus.load_corpus(tmp_path / "w")
    assert c.docs["text"].tolist() == [TEXT]


def test_manifest_template_is_readable() -> None:
    from cbec.text import TEXT_DATA_DIR

    m = corpus.read_manifest(TEXT_DATA_DIR / "manifest_template.csv")
    assert list(m.columns) == list(corpus.MANIFEST_COLUMNS)
    assert set(m["level"]) <= set(corpus.LEVELS)


REAL_TEXT = os.environ.get("CBEC_REAL_TEXT")


@pytest.mark.real
@pytest.mark.skipif(not REAL_TEXT or not Path(str(REAL_TEXT)).is_dir(), reason="set CBEC_REAL_TEXT")
def test_real_excerpts_run_through_the_pipeline() -> None:
    from cbec.analyses import policytools as pt

    folder = Path(str(REAL_TEXT))
    man = corpus.manifest_from_headers(folder)
    assert len(man) == len(list(folder.glob("*.txt"))) == 20
    c = corpus.load_corpus(folder, man, on_error="audit")
    # every file is kept or audited; 雄安新区 is not a prefecture of the registry
    assert set(man["file"]) == set(c.docs["file"]) | set(
        c.audit.loc[c.audit["action"] != "city left out", "file"]
    )
    assert "unknown_city" in set(c.audit["reason"])
    coded = pt.code_documents(c.docs)
    assert coded["doc_id"].nunique() == len(c.docs)
    assert coded[["supply", "environment", "demand"]].to_numpy().sum() > 0
    # with the study window, later documents are audited, not dropped silently
    w = corpus.load_corpus(folder, man, window=(2010, 2019), on_error="audit")
    assert (
        len(w.docs) + w.audit.loc[w.audit["action"] == "document left out", "file"].nunique() == 20
    )
