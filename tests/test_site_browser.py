"""The built leaderboard site in a real browser: headless Chromium driven over the DevTools protocol.

Builds the shared test board (synthetic-v1, generated entries and probes:
tests/leaderboard_helpers.py), runs ``mkdocs build`` with the repository's configuration, and
opens the leaderboard at 1280 x 800, from ``file://`` and served on loopback: no horizontal
scrollbar on any generated page type (the leaderboard index, a board, an entry, a data card, the
404 page, Metrics and scoring, How to submit: neither the page's nor any table's or code block's), the headline table in rank order with the probes marked, sorting
a column reorders rows, every internal link and anchor resolves from ``file://``, search works
when served, no console error, nothing fetched off-site, no script injected. Screenshots go to
artifacts/site-browser/ (gitignored). Needs Debian's ``chromium`` (``apt-get install -y
chromium``); skips without it.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from leaderboard_helpers import BOARD, REPO, XSS, mkdocs_build, shared_board, site_config

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found: apt-get install -y chromium (or set $CHROMIUM)")
websocket = pytest.importorskip("websocket", reason="websocket-client not installed (test extra)")

ARTIFACTS = REPO / "artifacts" / "site-browser"
WIDTH, HEIGHT = 1280, 800
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}",
    "--allow-file-access-from-files",
]
PRIMARY = "unseen_molecules/per_query/active/macro/top_5pct"  # synthetic-v1's, declared in its spec


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Browser:
    """One headless Chromium page over the DevTools protocol; records every event it receives."""

    def __init__(self, profile: Path):
        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def _receive(self) -> dict:
        message = json.loads(self.ws.recv())
        if message.get("method") == "Page.javascriptDialogOpening":  # an injected alert(): record it, close it
            self.ws.send(json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}))
        if "method" in message:
            self.events.append(message)
        return message

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while (message := self._receive()).get("id") != self._id:
            pass
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def idle(self, seconds: float = 0.3) -> None:
        """Record events until none arrives for ``seconds``."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self._receive()
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(30)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event plus a short idle period for late console messages."""
        self.send("Page.navigate", url=url)
        while self._receive().get("method") != "Page.loadEventFired":
            pass
        self.idle()

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, clip: dict | None = None, full: bool = False) -> Path:
        params = {"format": "png", "captureBeyondViewport": full}
        if clip:
            params["clip"] = clip | {"scale": 1}
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def _primary(run: dict) -> float:
    """The primary metric's value as the scorer wrote it into the results JSON."""
    assert run["primary"]["id"] == PRIMARY
    return run["primary"]["value"]


@pytest.fixture(scope="module")
def site(synthetic_v1, tmp_path_factory):
    """The built site: (folder of the HTML, expected headline order from the results JSON)."""
    board = shared_board(synthetic_v1, tmp_path_factory.getbasetemp())
    root = tmp_path_factory.mktemp("browser-site")
    shutil.copytree(board / "site/leaderboard", root / "site/leaderboard")
    assert mkdocs_build(site_config(root)) == []
    results = root / "site/leaderboard/synthetic-v1/results"
    means = {}
    for entry in results.iterdir():
        values = [_primary(json.loads(p.read_text())) for p in entry.glob("seed-*.json")]
        means[entry.name] = sum(values) / len(values)
    # Generated entries of well-separated quality: rank order, probes in place, is the order of the means.
    expected = sorted(means, key=lambda e: (-means[e], e))
    return root / "build", expected


@pytest.fixture(scope="module")
def browser():
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    chromium = Browser(profile)
    yield chromium
    chromium.close()
    shutil.rmtree(profile, ignore_errors=True)


HEADLINE_ROWS = "Array.from(document.querySelectorAll('table[data-table=headline] tbody tr[data-entry]'))"


def _problems(events: list[dict]) -> list[dict]:
    return [
        e for e in events
        if e["method"] in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening", "Network.loadingFailed")
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400)
    ]


def test_leaderboard_from_file_urls(site, browser):
    """file://: layout at 1280 px, rank order, probe marks, sorting, links, console, screenshots."""
    html, expected = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    browser.events.clear()
    page = (html / "leaderboard/synthetic-v1/index.html").as_uri()
    browser.open(page)

    # Fits the window: nothing wider than the viewport, the headline table not scrolled inside.
    widths = browser.evaluate(
        "({doc: document.documentElement.scrollWidth, view: window.innerWidth,"
        " content: document.querySelector('.md-content').scrollWidth, contentBox: document.querySelector('.md-content').clientWidth,"
        " table: document.querySelector('table[data-table=headline]').scrollWidth,"
        " tableBox: document.querySelector('table[data-table=headline]').parentElement.clientWidth})"
    )
    assert widths["view"] == WIDTH and widths["doc"] <= WIDTH, widths
    assert widths["content"] <= widths["contentBox"] and widths["table"] <= widths["tableBox"], widths

    # The headline table: rank order, probes marked in place, ranks non-decreasing.
    rows = browser.evaluate(HEADLINE_ROWS + ".map(r => [r.dataset.entry, r.dataset.status, r.cells[0].textContent.trim()])")
    assert [r[0] for r in rows] == expected
    status = {name: s for name, s, _ in rows}
    assert {n for n, s in status.items() if s == "probe"} == {n for n, (_, _, f) in BOARD.items() if f.get("kind") == "probe"}
    assert all(rank == "probe" for _, s, rank in rows if s == "probe")
    assert status["one-seed"] == status["constant"] == "not ranked"
    ranks = [int(rank.lstrip("=")) for _, s, rank in rows if s == "ranked"]
    assert ranks == sorted(ranks) and ranks[0] == 1
    probe_style = browser.evaluate("getComputedStyle(document.querySelector('tr[data-status=probe] td')).fontStyle")
    assert probe_style == "italic"
    assert browser.evaluate("document.querySelector('tr[data-entry=good] small').firstChild.textContent").removesuffix(" · ") == XSS
    assert browser.evaluate("document.querySelector('tr[data-entry=good] .pb-rerun').textContent") == "not re-run"  # the re-run badge
    assert browser.evaluate("Array.from(document.scripts).some(s => s.textContent.includes('alert(1)'))") is False
    assert "degenerate" in browser.evaluate("document.querySelector('tr[data-entry=constant] .pb-flag').textContent")
    images = browser.evaluate("Array.from(document.images).filter(i => i.src.endsWith('.svg')).map(i => [i.src.split('/').pop(), i.complete && i.naturalWidth > 0])")
    assert sorted(n for n, _ in images) == ["accuracy.svg", "dose.svg", "probes.svg"] and all(ok for _, ok in images)

    browser.screenshot(ARTIFACTS / "headline.png")  # what a reader sees first, at 1280 x 800
    browser.screenshot(ARTIFACTS / "leaderboard-full.png", full=True)
    for name in ("probes", "accuracy", "dose"):
        box = browser.evaluate(f"(() => {{ const r = document.querySelector('img[src$=\"{name}.svg\"]').getBoundingClientRect(); return {{x: r.x, y: r.y + window.scrollY, width: r.width, height: r.height}}; }})()")
        assert box["width"] > 300 and box["height"] > 150, (name, box)
        browser.screenshot(ARTIFACTS / f"plot-{name}.png", clip=box, full=True)

    # Sorting: a click on the primary metric's header orders the rows by value, a second click reverses.
    values = browser.evaluate(HEADLINE_ROWS + ".map(r => [r.dataset.entry, parseFloat(r.cells[2].dataset.sort)])")
    orders = []
    for _ in range(2):
        browser.evaluate("document.querySelector('table[data-table=headline] th:nth-child(3)').click()")
        orders.append(browser.evaluate(HEADLINE_ROWS + ".map(r => r.dataset.entry)"))
        if orders[-1] != [n for n, _ in values] and not (ARTIFACTS / "headline-sorted.png").exists():
            browser.screenshot(ARTIFACTS / "headline-sorted.png")  # the rows as the click put them
    by_value = dict(values)
    first, second = ([by_value[n] for n in order] for order in orders)
    ascending, descending = sorted(by_value.values()), sorted(by_value.values(), reverse=True)
    assert {tuple(first), tuple(second)} == {tuple(ascending), tuple(descending)}  # one click each way
    assert orders[0] != [n for n, _ in values] or orders[1] != [n for n, _ in values]  # the rows moved
    # the reference rows (chance, then the query-blind floor) stay last, whatever the sort
    assert browser.evaluate("Array.from(document.querySelectorAll('table[data-table=headline] tbody tr')).slice(-2).map(r => Object.keys(r.dataset)[0]).join()") == "chance,floor"

    # Entry page: its rank and its verdicts.
    browser.open((html / "leaderboard/synthetic-v1/entries/fair.html").as_uri())
    assert "of 3 ranked entries" in browser.evaluate("document.querySelector('table[data-table=rank] td').textContent")
    verdicts = browser.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('tr[data-other]')).map(r => [r.dataset.other, r.dataset.verdict]))")
    assert verdicts["good"] == "worse" and verdicts["random-probe"] == "better" and verdicts["fair-twin"] == "tied"
    browser.screenshot(ARTIFACTS / "entry.png")

    # Crawl every leaderboard page from file://: every internal link and anchor resolves on disk.
    seen, queue, anchors, links = set(), deque([(html / "leaderboard/index.html").as_uri()]), {}, []
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        browser.open(url)
        anchors[url] = set(browser.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)"))
        for href in browser.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
            target, fragment = urldefrag(href)
            if urlparse(target).scheme != "file":
                continue
            links.append((url, target, fragment))
            if target.endswith(".html") and "/leaderboard/" in target:
                queue.append(target)
    assert len(seen) >= 3 + len(BOARD), sorted(seen)
    broken = [(page, target, fragment) for page, target, fragment in links if not Path(unquote(urlparse(target).path)).is_file()]
    assert not broken
    missing_anchor = [(p, t, f) for p, t, f in links if f and t in anchors and f not in anchors[t]]
    assert not missing_anchor
    assert not [e for e in browser.events if e["method"] == "Network.requestWillBeSent" and urlparse(e["params"]["request"]["url"]).scheme not in ("file", "data", "blob")]
    assert not _problems(browser.events)


def test_leaderboard_served_search_and_no_offsite_requests(site, browser):
    """Served on loopback: the search finds an entry, nothing is fetched off-site, no console error."""
    html, expected = site
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        browser.events.clear()
        browser.open(f"{base}/leaderboard/synthetic-v1/index.html")
        assert browser.evaluate(HEADLINE_ROWS + ".map(r => r.dataset.entry)") == expected
        browser.evaluate(
            "(() => { const i = document.querySelector('.md-search__input'); i.focus(); i.value = 'centroid';"
            " i.dispatchEvent(new Event('input', {bubbles: true})); i.dispatchEvent(new KeyboardEvent('keyup', {key: 'd', bubbles: true})); })()"
        )
        deadline = time.monotonic() + 15
        hits = []
        while time.monotonic() < deadline and not hits:
            browser.idle(0.3)
            hits = browser.evaluate("Array.from(document.querySelectorAll('.md-search-result__item a')).map(a => a.href)")
        assert hits and any("centroid-probe" in h or "synthetic-v1" in h for h in hits), hits
        browser.evaluate("document.getElementById('__search').checked = true")  # the search overlay, open
        browser.idle(0.3)
        browser.screenshot(ARTIFACTS / "search.png")
        requested = {urlparse(e["params"]["request"]["url"]) for e in browser.events if e["method"] == "Network.requestWillBeSent"}
        assert {u.netloc for u in requested if u.scheme in ("http", "https")} == {urlparse(base).netloc}  # no CDN, no fonts
        assert not _problems(browser.events)
    finally:
        server.shutdown()


#: every generated page type, and the hand-written pages about the leaderboard and the scores
PAGE_TYPES = {
    "leaderboard index": "leaderboard/index.html",
    "board": "leaderboard/synthetic-v1/index.html",
    "entry": "leaderboard/synthetic-v1/entries/good.html",
    "entry (probe)": "leaderboard/synthetic-v1/entries/random-probe.html",
    "data card": "leaderboard/synthetic-v1/data-card.html",
    "404": "404.html",
    "metrics and scoring": "scoring.html",
    "how to submit": "submit.html",
}
#: what scrolls sideways: the page itself, or a table, a table's scroll wrapper, a code block, a figure
OVERFLOW = """(() => {
  const page = document.scrollingElement;
  const inner = Array.from(document.querySelectorAll('.md-content table, .md-content .md-typeset__scrollwrap, .md-content pre > code, .md-content img'))
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => [e.tagName.toLowerCase() + (e.dataset.table ? '[' + e.dataset.table + ']' : ''), e.scrollWidth, e.clientWidth, e.textContent.slice(0, 50)]);
  return {page: [page.scrollWidth, page.clientWidth], inner: inner};
})()"""


def test_every_page_type_fits_1280_without_a_horizontal_scrollbar(site, browser):
    """Regression (issue 17): the All-leaderboards table, an entry's Summary (MRR and median rank behind
    a scrollbar) and Metrics and scoring's code blocks overflowed at 1280 px. Every details block is
    opened first (the collapsed tables count). Screenshots of each page: artifacts/site-browser/fit-*.png."""
    html, _ = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    too_wide = {}
    for name, path in PAGE_TYPES.items():
        assert (html / path).is_file(), path
        browser.open((html / path).as_uri())
        browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        fit = browser.evaluate(OVERFLOW)
        assert fit["page"][1] > 1200, (name, fit)  # the window is 1280 wide (less a vertical scrollbar)
        if fit["page"][0] > fit["page"][1] or fit["inner"]:
            too_wide[name] = fit
        browser.screenshot(ARTIFACTS / f"fit-{name.replace(' ', '-').replace('(', '').replace(')', '')}.png", full=True)
    assert not too_wide, too_wide
    # 404.html links relative: it works from file:// (no root-absolute link left)
    browser.open((html / "404.html").as_uri())
    assert browser.evaluate("Array.from(document.querySelectorAll('[href],[src]')).map(e => e.getAttribute('href') || e.getAttribute('src')).filter(u => u.startsWith('/') && !u.startsWith('//'))") == []
    assert browser.evaluate("getComputedStyle(document.querySelector('.md-header')).position") in ("sticky", "fixed")  # the theme's CSS loaded
