"""Read a policy-text corpus: a folder of text documents plus a manifest, audited.

Corpus format (README, "The policy-text corpus"; template in ``data/text/manifest_template.csv``)
---------------------------------------------------------------------------------------------------
A folder holds one plain-text file per document and a manifest ``manifest.csv`` (UTF-8) with
one row per document and the columns

``doc_id``
    Unique identifier of the document.
``file``
    File name inside the folder (``.txt``, UTF-8; GB18030 files are detected and read).
``title``, ``issuer``, ``source``
    Title, issuing body and where the text was taken from (address or archive reference).
``level``
    ``state_council``, ``province`` or ``city``.
``date``
    Issue date, ``YYYY-MM-DD`` (``YYYY`` alone is accepted and read as 1 July).
``cities``
    Cities covered, separated by ``;``: six-digit codes of the city registry
    (:mod:`cbec.data.reference`) or their Chinese names (``杭州`` or ``杭州市``).

A file may start with a header of ``# KEY: value`` lines closed by ``# ---`` (as the real
excerpts in ``../shared/data/policy_excerpts`` do); the header is kept in ``meta`` and is not
part of the text.

Nothing is dropped silently. :func:`load_corpus` checks the files against the manifest and
raises one :class:`CorpusError` that names every file with a problem (bad encoding, empty
file, a document the manifest lacks, a manifest row whose file is missing, a city the registry
does not know, a date outside the study window). With ``on_error="audit"`` the same problems
leave the document (or the single unknown city) out and are listed in :attr:`Corpus.audit`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

#: Columns of a corpus manifest, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "doc_id",
    "file",
    "title",
    "issuer",
    "level",
    "date",
    "cities",
    "source",
)

#: Issuing levels, highest first.
LEVELS: tuple[str, ...] = ("state_council", "province", "city")

#: Columns of :attr:`Corpus.audit`.
AUDIT_COLUMNS: tuple[str, ...] = ("file", "doc_id", "reason", "action", "message")

#: Reason codes of the audit (and of :class:`CorpusError`).
REASONS: dict[str, str] = {
    "bad_encoding": "not UTF-8 or GB18030 text",
    "empty_file": "the file holds no text",
    "not_in_manifest": "a document in the folder that the manifest does not list",
    "no_document": "a manifest row whose file is not in the folder",
    "unknown_city": "a city the registry does not know",
    "date_outside": "issued outside the study window",
    "bad_manifest": "a manifest row that cannot be read (level, date, duplicate id)",
}

OnError = Literal["raise", "audit"]


class CorpusError(ValueError):
    """Problems found while reading a corpus; ``problems`` is the audit frame."""

    def __init__(self, problems: pd.DataFrame) -> None:
        self.problems = problems
        lines = [f"{len(problems)} problem(s) in the policy-text corpus:"]
        lines += [f"  {r.file}: {r.reason}: {r.message}" for r in problems.itertuples()]
        lines.append("Fix them, or pass on_error='audit' to leave them out and list them.")
        super().__init__("\n".join(lines))


@dataclass
class Corpus:
    """A loaded corpus.

    Attributes
    ----------
    docs
        One row per document kept: the manifest columns, ``year``, ``city_ids`` (tuple of
        registry codes), ``encoding``, ``text`` (header removed), ``n_chars`` and ``meta``
        (the file's header fields).
    audit
        Every document or city left out, with its reason (:data:`AUDIT_COLUMNS`).
    root
        The folder read (``None`` for a corpus built in memory).
    """

    docs: pd.DataFrame
    audit: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AUDIT_COLUMNS))
    root: Path | None = None

    def city_docs(self) -> pd.DataFrame:
        """One row per (document, city covered): ``doc_id, city_id, year, level``."""
        d = self.docs[["doc_id", "city_ids", "year", "level"]].explode("city_ids")
        d = d.rename(columns={"city_ids": "city_id"}).dropna(subset=["city_id"])
        d["city_id"] = d["city_id"].astype("int64")
        return d.reset_index(drop=True)


# --------------------------------------------------------------------------- reading text
_HEADER_LINE = re.compile(r"^#\s*([A-Za-z_]+)\s*:\s*(.*)$")


def _plausible_chinese(text: str) -> bool:
    """True when decoded text is mostly CJK, CJK punctuation, full-width forms or ASCII."""
    if not text:
        return True
    ok = cjk = 0
    for ch in text:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            cjk += 1
            ok += 1
        elif o < 0x80 or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF or 0x2000 <= o <= 0x206F:
            ok += 1
    return cjk > 0 and ok / len(text) >= 0.95


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode a document: UTF-8 (with or without BOM) or GB18030; anything else raises.

    GB18030 accepts most byte strings, so a GB18030 decoding is accepted only when the
    result is plausible Chinese text (at least 95% CJK characters, CJK punctuation, full-width
    forms or ASCII, and some CJK). Big5 text can pass that check as mojibake; convert Big5
    files to UTF-8 before loading.

    Returns
    -------
    (text, encoding)
        ``encoding`` is ``"utf-8"`` or ``"gb18030"``.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnicodeError("UTF-16 text (byte-order mark); save the file as UTF-8")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as err:
        raise UnicodeError(f"neither UTF-8 nor GB18030 ({err.reason} at byte {err.start})") from err
    if not _plausible_chinese(text):
        raise UnicodeError("neither UTF-8 nor GB18030 Chinese text (decoding gives no Chinese)")
    return text, "gb18030"


def split_header(text: str) -> tuple[dict[str, str], str]:
    """Split a leading ``# KEY: value`` header closed by ``# ---`` from the body."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        return {}, text
    meta: dict[str, str] = {}
    for k, line in enumerate(lines):
        if line.strip().startswith("# ---"):
            return meta, "\n".join(lines[k + 1 :])
        m = _HEADER_LINE.match(line)
        if m:
            meta[m.group(1).lower()] = m.group(2).strip()
        elif not line.startswith("#"):
            break
    return {}, text


def read_document(path: str | Path) -> tuple[dict[str, str], str, str]:
    """Read one document: ``(header, body, encoding)``; body normalised to NFC."""
    raw = Path(path).read_bytes()
    text, enc = decode_bytes(raw)
    meta, body = split_header(text.replace("\r\n", "\n").replace("\r", "\n"))
    return meta, unicodedata.normalize("NFC", body).strip(), enc


# --------------------------------------------------------------------------- cities, dates
def city_lookup(cities: pd.DataFrame) -> dict[str, int]:
    """Map registry codes, full and short Chinese names and pinyin (lower case) to codes."""
    out: dict[str, int] = {}
    for r in cities.itertuples():
        cid = int(r.city_id)
        out[str(cid)] = cid
        for col in ("name_zh", "short_zh"):
            v = getattr(r, col, None)
            if isinstance(v, str) and v:
                out[v] = cid
        v = getattr(r, "name_pinyin", None)
        if isinstance(v, str) and v:
            out[v.lower()] = cid
    return out


def parse_date(value: object) -> pd.Timestamp:
    """``YYYY-MM-DD`` or ``YYYY`` (read as 1 July); raises ``ValueError`` otherwise."""
    s = str(value).strip()
    if re.fullmatch(r"\d{4}", s):
        return pd.Timestamp(int(s), 7, 1)
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", s):
        return pd.Timestamp(s)
    raise ValueError(f"date {s!r} is not YYYY-MM-DD or YYYY")


# --------------------------------------------------------------------------- loader
def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV (all columns as text) and check its columns."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: corpus manifest not found (see the README, corpus format)"
        )
    m = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in MANIFEST_COLUMNS if c not in m.columns]
    if missing:
        raise ValueError(
            f"{path}: manifest lacks columns {missing}; needs {list(MANIFEST_COLUMNS)}"
        )
    return m[list(MANIFEST_COLUMNS)]


def load_corpus(
    folder: str | Path,
    manifest: str | Path | pd.DataFrame | None = None,
    *,
    cities: pd.DataFrame | None = None,
    window: tuple[int, int] | None = None,
    on_error: OnError = "raise",
    suffixes: tuple[str, ...] = (".txt",),
) -> Corpus:
    """Load and audit a corpus folder.

    Parameters
    ----------
    folder
        Folder of documents.
    manifest
        Manifest CSV path or frame; default ``folder / "manifest.csv"``.
    cities
        City registry (default :func:`cbec.data.reference.load_cities`).
    window
        ``(first_year, last_year)``: documents issued outside are problems; ``None`` checks
        no dates (beyond their format).
    on_error
        ``"raise"`` (default): one :class:`CorpusError` listing every problem, each naming its
        file. ``"audit"``: leave problem documents (or unknown cities of a document) out and
        list them in :attr:`Corpus.audit`.
    suffixes
        File endings that count as documents.
    """
    if on_error not in ("raise", "audit"):
        raise ValueError(f"on_error must be 'raise' or 'audit', got {on_error!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: corpus folder not found")
    if cities is None:
        from cbec.data.reference import load_cities

        cities = load_cities()
    lookup = city_lookup(cities)
    if isinstance(manifest, pd.DataFrame):
        man = manifest.astype(str)
        missing = [c for c in MANIFEST_COLUMNS if c not in man.columns]
        if missing:
            raise ValueError(f"manifest lacks columns {missing}")
    else:
        man = read_manifest(manifest if manifest is not None else folder / "manifest.csv")
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in suffixes)
    problems: list[dict[str, str]] = []

    def problem(file: str, doc_id: str, reason: str, action: str, message: str) -> None:
        problems.append(
            {"file": file, "doc_id": doc_id, "reason": reason, "action": action, "message": message}
        )

    listed = set(man["file"])
    for f in files:
        if f not in listed:
            problem(f, "", "not_in_manifest", "document left out",
                    f"{folder / f} is not listed in the manifest")  # fmt: skip
    seen: set[str] = set()
    rows = []
    for r in man.itertuples(index=False):
        path = folder / r.file
        drop = False
        if r.doc_id in seen:
            problem(r.file, r.doc_id, "bad_manifest", "document left out",
                    f"doc_id {r.doc_id!r} appears twice in the manifest")  # fmt: skip
            continue
        seen.add(r.doc_id)
        if not path.is_file():
            problem(r.file, r.doc_id, "no_document", "row left out",
                    f"manifest row {r.doc_id!r} names {path}, which does not exist")  # fmt: skip
            continue
        if r.level not in LEVELS:
            problem(r.file, r.doc_id, "bad_manifest", "document left out",
                    f"level {r.level!r} is not one of {LEVELS}")  # fmt: skip
            drop = True
        try:
            date = parse_date(r.date)
        except ValueError as err:
            problem(r.file, r.doc_id, "bad_manifest", "document left out", str(err))
            date, drop = None, True
        if date is not None and window is not None and not window[0] <= date.year <= window[1]:
            problem(r.file, r.doc_id, "date_outside", "document left out",
                    f"issued {date.date()}, outside the study window {window[0]}-{window[1]}")  # fmt: skip
            drop = True
        ids: list[int] = []
        for name in [c.strip() for c in str(r.cities).split(";") if c.strip()]:
            cid = lookup.get(name, lookup.get(name.lower()))
            if cid is None:
                problem(r.file, r.doc_id, "unknown_city", "city left out",
                        f"city {name!r} is not in the city registry")  # fmt: skip
            else:
                ids.append(cid)
        if not ids and not drop:
            problem(r.file, r.doc_id, "unknown_city", "document left out",
                    "no city of the document is in the city registry")  # fmt: skip
            drop = True
        try:
            meta, body, enc = read_document(path)
        except UnicodeError as err:
            problem(r.file, r.doc_id, "bad_encoding", "document left out", f"{path}: {err}")
            continue
        if not body.strip():
            problem(r.file, r.doc_id, "empty_file", "document left out", f"{path} holds no text")
            continue
        if drop:
            continue
        rows.append(
            {**r._asdict(), "date": date, "year": int(date.year),
             "city_ids": tuple(dict.fromkeys(ids)), "encoding": enc, "text": body,
             "n_chars": len(body), "meta": meta}
        )  # fmt: skip
    audit = pd.DataFrame(problems, columns=list(AUDIT_COLUMNS))
    if len(audit) and on_error == "raise":
        raise CorpusError(audit)
    docs = pd.DataFrame(
        rows, columns=[*MANIFEST_COLUMNS, "year", "city_ids", "encoding", "text", "n_chars", "meta"]
    )
    return Corpus(docs=docs.reset_index(drop=True), audit=audit, root=folder)


# --------------------------------------------------------------------------- writing
def write_corpus(docs: pd.DataFrame, folder: str | Path, *, encoding: str = "utf-8") -> Path:
    """Write documents (``doc_id``, ``text`` and the manifest columns) as a corpus folder.

    ``cities`` may be a ``;``-joined string or taken from ``city_ids``. Returns the manifest
    path. Used for the synthetic corpus and in tests (round trip through :func:`load_corpus`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    man = docs.copy()
    if "file" not in man.columns:
        man["file"] = man["doc_id"].astype(str) + ".txt"
    if "cities" not in man.columns:
        man["cities"] = man["city_ids"].map(lambda t: ";".join(str(c) for c in t))
    man["date"] = pd.to_datetime(man["date"]).dt.strftime("%Y-%m-%d")
    for r in man.itertuples():
        (folder / r.file).write_bytes(str(r.text).encode(encoding))
    path = folder / "manifest.csv"
    man[list(MANIFEST_COLUMNS)].to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- real excerpts
#: Registry spellings of file-name slugs that differ from the registry's pinyin.
_SLUG_ALIASES = {"xiongan": "雄安新区", "suzhou": "苏州", "taizhou": "台州"}

_DATE_IN_TEXT = re.compile(r"(20\d\d)-(\d\d)-(\d\d)")
_YEAR_IN_NAME = re.compile(r"(20\d\d)")


def manifest_from_headers(folder: str | Path) -> pd.DataFrame:
    """Build a manifest for a folder of excerpts whose files carry ``# KEY: value`` headers.

    The real excerpts in ``../shared/data/policy_excerpts`` have no manifest. Their file name
    is ``<city>-<city>..._<doc>.txt`` (``etcNN`` marks "and NN more cities", which are not
    listed); the ``DOCUMENT`` header gives the title, and its first ``YYYY-MM-DD`` the date
    (else the file name's year). The level is read from the document number: 国函 is the
    State Council, a provincial government name or its abbreviation (粤府, 苏政发, ...) a
    province, otherwise a city. Cities are the file name's slugs, matched by the loader
    against the registry's pinyin; a slug the registry lacks (雄安新区) is audited there.
    """
    folder = Path(folder)
    rows = []
    for path in sorted(folder.glob("*.txt")):
        meta, _, _ = read_document(path)
        title = meta.get("document", path.stem)
        m = _DATE_IN_TEXT.search(title)
        if m:
            date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
        else:
            y = _YEAR_IN_NAME.search(path.stem)
            date = y.group(1) if y else ""
        own = re.split(r"\s\(|, \d{4}-", title)[0]  # the title without "(cites ...)" or date
        if own.startswith("国函") or "国务院关于" in own:
            level = "state_council"
        elif re.search(r"市人民政府|市政府", own) and not own.startswith(
            ("京政", "津政", "沪府", "渝府")
        ):
            level = "city"
        else:
            level = "province"
        slugs = [s for s in path.stem.split("_")[0].split("-") if not s.startswith("etc")]
        cities = ";".join(_SLUG_ALIASES.get(s, s) for s in slugs)
        rows.append(
            {"doc_id": path.stem, "file": path.name, "title": title, "issuer": "",
             "level": level, "date": date, "cities": cities, "source": meta.get("source", "")}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
