"""The built leaderboard site in a real browser: headless Chromium driven over the DevTools protocol.

Builds a leaderboard (synthetic-v1, generated entries: tests/leaderboard_helpers.py), runs
``mkdocs build --strict``, serves it on loopback and visits every page reachable from the
leaderboard: the table order, internal links and anchors, console errors, failed or off-site
requests and script injection are checked; a screenshot is saved to artifacts/site-browser/.
Needs Debian's ``chromium`` (``apt-get install -y chromium``); skips without it.
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
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from leaderboard_helpers import REPO, make_entry, mkdocs_build, site_config
from pheno_bench.evaluate import Evaluator
from pheno_bench.leaderboard import build

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found: apt-get install -y chromium (or set $CHROMIUM)")
websocket = pytest.importorskip("websocket", reason="websocket-client not installed (test extra)")

ARTIFACTS = REPO / "artifacts" / "site-browser"
XSS = "<script>alert(1)</script>"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--window-size=1400,1000",
]


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

    def open(self, url: str) -> None:
        """Navigate and wait for the load event plus a short idle period for late console messages."""
        self.send("Page.navigate", url=url)
        while self._receive().get("method") != "Page.loadEventFired":
            pass
        self.ws.settimeout(0.3)
        try:
            while True:
                self._receive()
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(30)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(synthetic_v1, tmp_path_factory):
    """The built site served on loopback: (base URL, expected order of the unseen_molecules table)."""
    root = tmp_path_factory.mktemp("site")
    evaluator = Evaluator(synthetic_v1)
    subs = root / "submissions"
    for name, noise, seeds, fields in (
        ("oracle", 0.0, (0,), {}),
        ("good", 0.25, (0, 1, 2), {"model": XSS}),
        ("fair", 0.6, (0, 1), {}),
        ("random", 100.0, (0, 1), {"kind": "example"}),
    ):
        make_entry(evaluator, subs, name, noise=noise, seeds=seeds, **fields)
    build(submissions=subs, site=root / "site", benchmarks=[evaluator.root])
    assert mkdocs_build(site_config(root)) == []
    results = root / "site/leaderboard/synthetic-v1/results"
    means = {}
    for entry in results.iterdir():
        runs = [json.loads(p.read_text()) for p in entry.glob("seed-*.json")]
        values = [r["splits"]["unseen_molecules"]["per_query"]["subsets"]["all"]["metrics"]["top_1pct"]["value"] for r in runs]
        means[entry.name] = sum(values) / len(values)
    expected = sorted(means, key=lambda e: (-means[e], e))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root / "build")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", expected
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    chromium = Browser(profile)
    yield chromium
    chromium.close()
    shutil.rmtree(profile, ignore_errors=True)


def test_leaderboard_in_a_real_browser(served, browser):
    base, expected = served
    start = f"{base}/leaderboard/synthetic-v1/"
    browser.open(start)
    order = browser.evaluate(
        "Array.from(document.querySelectorAll('table[data-split=unseen_molecules][data-subset=all] tr[data-entry]')).map(r => r.dataset.entry)"
    )
    assert order == expected and order[0] == "oracle" and order[-1] == "random"
    shown = browser.evaluate("document.querySelector('tr[data-entry=good] small').textContent")
    assert shown == XSS
    assert browser.evaluate("Array.from(document.scripts).some(s => s.textContent.includes('alert(1)'))") is False
    assert browser.evaluate("Array.from(document.images).filter(i => i.src.endsWith('.svg')).every(i => i.complete && i.naturalWidth > 0)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = ARTIFACTS / "leaderboard.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    # Crawl every page reachable from the leaderboard; check links, anchors and the console.
    seen, queue, anchors, links = set(), deque([f"{base}/leaderboard/"]), {}, []
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        browser.open(url)
        anchors[url] = set(browser.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)"))
        for href in browser.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
            target, fragment = urldefrag(href)
            if urlparse(target).netloc != urlparse(base).netloc:
                continue
            links.append((url, target, fragment))
            if target.endswith("/") and target.startswith(f"{base}/leaderboard/"):
                queue.append(target)
    assert f"{base}/leaderboard/synthetic-v1/entries/good/" in seen and len(seen) >= 7
    broken = []
    for page, target, fragment in links:
        try:
            status = urllib.request.urlopen(target).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status != 200 or (fragment and target in anchors and fragment not in anchors[target]):
            broken.append((page, target, fragment, status))
    assert not broken

    events = browser.events
    problems = [
        e for e in events
        if e["method"] in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening", "Network.loadingFailed")
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400)
    ]
    assert not problems
    requested = {urlparse(e["params"]["request"]["url"]) for e in events if e["method"] == "Network.requestWillBeSent"}
    assert {u.netloc for u in requested if u.scheme in ("http", "https")} == {urlparse(base).netloc}  # no CDN, no fonts
