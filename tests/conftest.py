"""Shared fixtures: one fast build of the whole book per test session.

``book_build`` builds the book once (``python -m cbec book --fast``) into a session temporary
folder and hands every test module the same build folder; ``CBEC_BOOK_BUILD`` may name a
finished build to check instead (for example the one ``make book`` just made).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def book_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished fast build of the book (the folder holding ``html/``)."""
    given = os.environ.get("CBEC_BOOK_BUILD")
    if given:
        folder = Path(given)
        if not (folder / "html" / "index.html").is_file():
            pytest.fail(f"CBEC_BOOK_BUILD={given} holds no html/index.html")
        return folder
    build = tmp_path_factory.mktemp("book-session") / "_build"
    proc = subprocess.run(
        [sys.executable, "-m", "cbec", "book", "--fast", "--build-dir", str(build)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (build.parent / "build-stdout.txt").write_text(proc.stdout, encoding="utf-8")
    return build
