"""Policy texts: corpus loader, segmentation, coding book and coder (chapter 6).

Modules: :mod:`cbec.text.corpus` (folder + manifest, audited), :mod:`cbec.text.segment`
(sentences, clauses, jieba words), :mod:`cbec.text.codebook` (the coding book and the rule
coder), :mod:`cbec.text.classifier` (the second, supervised coder),
:mod:`cbec.text.synthetic` (the twin's corpus from clause templates, with known labels).
"""

from pathlib import Path

#: Folder of the committed text data (coding book, cues, user dictionary, templates).
TEXT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "text"
