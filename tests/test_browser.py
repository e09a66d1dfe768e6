"""The built book in a real browser, and its links.

Every page of a fast build is opened in Debian's headless chromium, driven directly over the
Chrome DevTools protocol (``websocket-client``, already in the lock), at a desktop and a phone
width. A page passes when it loads without a console error or failed request, every formula
is typeset by MathJax, and every figure and table is visible: an image that loaded and has a
size, inside the screen width (a table may be wider only inside a box that scrolls sideways,
and its caption stays within the screen).

The link test needs no browser: every local link and image of the HTML resolves to a file,
and no link points to a repository or launch service that the book does not configure.

``CBEC_BOOK_BUILD`` may name a finished build folder (with ``html/``) to check instead of
building one (``python -m cbec book --fast --build-dir DIR``). ``.ci/run`` installs chromium
when it is missing; without it the browser tests are skipped.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Placeholder repositories a book must never link to (the URL the book once pointed at).
PLACEHOLDERS = ("github.com/cbec-book/", "github.com/executablebooks/jupyter-book")


@pytest.fixture(scope="module")
def html_dir(book_build: Path) -> Path:
    """The HTML of the session's fast build (``tests/conftest.py``)."""
    return book_build / "html"


def _pages(html: Path) -> list[Path]:
    """The book's pages: no index or search pages, no redirect stubs, nothing under ``_*``."""
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(
        p
        for p in html.rglob("*.html")
        if p.name not in skip
        and not any(part.startswith("_") for part in p.relative_to(html).parts)
        and 'http-equiv="refresh"' not in p.read_text(encoding="utf-8")[:2000].lower()
    )


# ------------------------------------------------------------------------------- links


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.buttons: list[str] = []  # links of the theme's header buttons

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "a" and "btn" in (attr.get("class") or "").split() and attr.get("href"):
            self.buttons.append(str(attr["href"]))
        for name, value in attrs:
            if value and (
                (tag == "a" and name == "href")
                or (tag in ("img", "script") and name == "src")
                or (tag == "link" and name == "href")
            ):
                self.links.append((tag, value))


@pytest.mark.book
@pytest.mark.slow
def test_every_local_link_resolves_and_no_placeholder(html_dir: Path) -> None:
    broken, placeholders, external = [], [], set()
    for page in _pages(html_dir):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        external.update(b for b in parser.buttons if urlsplit(b).scheme in ("http", "https"))
        for tag, link in parser.links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https"):
                if any(p in link for p in PLACEHOLDERS):
                    placeholders.append(f"{page.name}: {link}")
                continue
            if parts.scheme or link.startswith(("#", "//")) or not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: <{tag}> {link}")
    assert not broken, "local links that resolve to nothing:\n" + "\n".join(broken[:30])
    assert not placeholders, "links to an unconfigured repository:\n" + "\n".join(placeholders)
    # without a configured repository (none in this checkout) no button leaves the book
    from cbec.book.pages import remote_url

    if not remote_url(REPO):
        assert not external, f"header buttons leave the book without a repository: {external}"


# ----------------------------------------------------------------------------- browser


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # no request log on stderr
        pass


class Browser:
    """One headless chromium and one tab, spoken to over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        import websocket  # websocket-client

        self.proc = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            tabs = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(
            tabs[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        self.ws.settimeout(timeout)
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
            if msg.get("method") == method:
                return
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        out = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in out:
            raise RuntimeError(str(out["exceptionDetails"])[:500])
        return out["result"].get("value")

    def open(self, url: str, width: int, height: int) -> None:
        self.events = []
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                det = params["exceptionDetails"]
                what = (det.get("exception") or {}).get("description") or det.get("text")
                out.append(f"exception: {str(what).splitlines()[0]} ({det.get('url', '')})")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
            elif (
                method == "Log.entryAdded"
                and params["entry"].get("level") == "error"
                and not params["entry"].get("url", "").endswith("/favicon.ico")
            ):
                out.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                out.append(f"request failed: {params.get('errorText')}")
        return out

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


#: Runs in the page: waits for MathJax, then reports maths, figures and tables.
_INSPECT = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await new Promise(r => setTimeout(r, 200));
  const vw = document.documentElement.clientWidth;
  const out = {vw, math: 0, unrendered: [], figures: 0, bad_figures: [], tables: 0,
               bad_tables: []};
  for (const m of document.querySelectorAll('.math, .MathJax_Preview, mjx-container')) {
    if (m.matches('mjx-container') && m.parentElement.closest('.math')) continue;
    out.math += 1;
    if (!m.matches('mjx-container') && !m.querySelector('mjx-container')) {
      out.unrendered.push(m.textContent.slice(0, 60));
    }
  }
  const article = document.querySelector('.bd-article') || document.body;
  for (const img of article.querySelectorAll('img')) {
    out.figures += 1;
    const r = img.getBoundingClientRect();
    const why = !img.complete || img.naturalWidth === 0 ? 'not loaded'
      : r.width < 20 || r.height < 20 ? `tiny ${r.width}x${r.height}`
      : r.right > vw + 1 || r.left < -1 ? `outside the screen (${r.left}..${r.right} of ${vw})`
      : getComputedStyle(img).visibility === 'hidden' ? 'hidden' : '';
    if (why) out.bad_figures.push(`${img.getAttribute('src')}: ${why}`);
  }
  for (const t of article.querySelectorAll('table')) {
    out.tables += 1;
    const r = t.getBoundingClientRect();
    const label = (t.querySelector('caption') || t).textContent.trim().slice(0, 50);
    if (r.width < 10 || r.height < 10) { out.bad_tables.push(`${label}: not visible`); continue; }
    if (r.right > vw + 1) {
      // wider than the screen: fine only inside a box that scrolls sideways
      let box = t.parentElement, scrolls = false;
      while (box && box !== document.body) {
        const s = getComputedStyle(box).overflowX;
        if ((s === 'auto' || s === 'scroll') && box.getBoundingClientRect().right <= vw + 1) {
          scrolls = true; break;
        }
        box = box.parentElement;
      }
      if (!scrolls) out.bad_tables.push(`${label}: wider than the screen, no scroll box`);
    }
    const cap = t.querySelector('caption');
    if (cap) {
      const c = cap.getBoundingClientRect();
      if (c.width > vw + 1 || c.height < 5) out.bad_tables.push(`${label}: caption cut`);
    }
  }
  return out;
})()
"""


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("width", list(WIDTHS))
def test_pages_in_a_browser(html_dir: Path, width: str, tmp_path: Path) -> None:
    pages = _pages(html_dir)
    assert pages, "no pages"
    problems: list[str] = []
    seen = {"math": 0, "figures": 0, "tables": 0}
    shots = Path(os.environ.get("CBEC_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    w, h = WIDTHS[width]
    with _serve(html_dir) as base:
        browser = Browser(tmp_path / "profile")
        try:
            for page in pages:
                rel = page.relative_to(html_dir).as_posix()
                browser.open(f"{base}/{rel}", w, h)
                report = browser.evaluate(_INSPECT)
                for k in seen:
                    seen[k] += report[k]
                problems += [f"{rel} [{width}] {e}" for e in browser.errors()]
                problems += [
                    f"{rel} [{width}] maths not rendered: {m}" for m in report["unrendered"]
                ]
                problems += [f"{rel} [{width}] figure {f}" for f in report["bad_figures"]]
                problems += [f"{rel} [{width}] table {t}" for t in report["bad_tables"]]
                if rel.startswith("notebooks/01") or rel == "intro.html":
                    browser.screenshot(shots / f"{rel.replace('/', '_')}-{width}.png")
        finally:
            browser.close()
    assert not problems, "\n".join(problems[:40])
    # the checks looked at something: the book has formulas, figures and tables
    assert seen["math"] > 10 and seen["figures"] >= 6 and seen["tables"] >= 5, seen
