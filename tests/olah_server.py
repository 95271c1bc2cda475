"""A Hub on loopback for the tests: olah serves git repos read-only; HubWriter accepts uploads; TamperingProxy alters transfers.

olah (a self-hosted Hugging Face Hub mirror) serves ``<mirrors>/datasets/<org>/<name>`` (a git
repository) at ``/api/datasets/<org>/<name>/...`` and ``/datasets/<org>/<name>/resolve/...``
when started with ``mirrors-path`` and ``[accessibility] offline = true``. olah has no upload
routes, so :class:`HubWriter` plays the write half of the Hub API (create repo, validate the card,
preupload, commit, branch) and commits what huggingface_hub sends into the same git repos.

File metadata (``paths-info``, ``tree``): olah reads it from git (``olah/mirror/repos.py``,
``LocalMirrorRepo._get_path_info``): a blob of 121-149 bytes that parses as a git-lfs pointer
(``version https://git-lfs.github.com/spec/v1`` / ``oid sha256:<hex>`` / ``size <n>``) is
reported as an LFS file (``lfs: {oid, size, pointerSize}``) and its bytes are served from
``.git/lfs/objects/<oid[:2]>/<oid[2:4]>/<oid>`` of the repository's work tree; any other blob is
reported with its git blob id only. A file committed as a plain blob therefore has no LFS
sha256 to check against: :func:`commit_folder` commits the files matching ``lfs`` patterns
exactly as ``git lfs`` does (pointer in git, object under ``.git/lfs/objects``), without needing
the git-lfs binary, so olah serves the Hub's real metadata for them.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "pheno-bench tests", "GIT_AUTHOR_EMAIL": "tests@pheno-bench",
           "GIT_COMMITTER_NAME": "pheno-bench tests", "GIT_COMMITTER_EMAIL": "tests@pheno-bench"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git(repo: Path, *args: str, data: bytes | None = None, env: dict | None = None) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True,
                         env={**os.environ, **GIT_ENV, **(env or {})})
    return out.stdout.decode().strip()


LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"


def commit_folder(repo: Path, folder: Path, message: str, *, lfs: tuple[str, ...] = ()) -> str:
    """Make the work tree of git repo ``repo`` (created if needed, branch main) equal ``folder``; commit; its sha.

    Files whose relative path matches a pattern of ``lfs`` (fnmatch, e.g. ``"*.parquet"``) are
    committed as git-lfs commits them: a pointer file in git, the bytes as the LFS object
    ``.git/lfs/objects/<aa>/<bb>/<sha256>``, and the patterns in ``.gitattributes``.
    """
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(folder, repo, dirs_exist_ok=True)
    if lfs:
        for path in sorted(p for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts):
            if any(fnmatch.fnmatch(str(path.relative_to(repo)), pattern) for pattern in lfs):
                data = path.read_bytes()
                oid = hashlib.sha256(data).hexdigest()
                obj = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
                obj.parent.mkdir(parents=True, exist_ok=True)
                obj.write_bytes(data)
                path.write_text(LFS_POINTER.format(oid=oid, size=len(data)))
        (repo / ".gitattributes").write_text("".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in lfs))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


class Olah:
    """``olah-cli`` serving ``mirrors`` on a free loopback port, as a subprocess stopped by its pid."""

    def __init__(self, mirrors: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "olah.toml"
        config.write_text(
            f'[basic]\nhost = "127.0.0.1"\nport = {self.port}\nrepos-path = "{workdir / "repos"}"\n'
            f'mirrors-path = ["{mirrors}"]\n\n[accessibility]\noffline = true\n'
        )
        self.log = workdir / "olah.log"
        cli = Path(sys.executable).parent / "olah-cli"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([str(cli), "-c", str(config)], cwd=workdir, stdout=log, stderr=log)
        self._wait()

    def _wait(self, timeout: float = 60) -> None:
        """Until uvicorn says it listens on our port (not merely: something answers there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"olah exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            if f"Uvicorn running on {self.url}" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"olah did not start in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, 9)
                self.process.wait()


class _Writer(BaseHTTPRequestHandler):
    server: "HubWriter"

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, body))
        path = self.path.split("?")[0]
        if path == "/api/repos/create":
            request = json.loads(body)
            repo = self.server.repo(f"{request['organization']}/{request['name']}")
            url = f"{self.server.url}/datasets/{request['organization']}/{request['name']}"
            if repo.exists():
                return self._answer(409, {"error": "You already created this dataset repo", "url": url})
            self.server.visibility[repo.name] = request.get("visibility")
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
            return self._answer(200, {"url": url})
        if path == "/api/validate-yaml":
            return self._answer(200, {"errors": [], "warnings": []})
        match = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)", path)
        if not match:
            return self._answer(404, {"error": f"no route {path}"})
        repo, action, revision = self.server.repo(match[1]), match[2], match[3]
        if action == "preupload":
            files = json.loads(body)["files"]
            return self._answer(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                for f in files]})
        if action == "branch":
            git(repo, "update-ref", f"refs/heads/{revision}", "refs/heads/main")
            return self._answer(200, {})
        items = [json.loads(line) for line in body.splitlines() if line.strip()]
        sha = self.server.commit(repo, revision, items)
        return self._answer(200, {"commitUrl": f"{self.server.url}/datasets/{match[1]}/commit/{sha}", "commitOid": sha})


class HubWriter(ThreadingHTTPServer):
    """The write half of the Hub API on loopback, committing uploads into ``<mirrors>/datasets/<org>/<name>``.

    ``requests`` records (path, body) of every request; ``visibility`` the visibility asked per repo.
    """

    def __init__(self, mirrors: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Writer)
        self.mirrors = mirrors
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[tuple[str, bytes]] = []
        self.visibility: dict[str, str | None] = {}
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def repo(self, repo_id: str) -> Path:
        return self.mirrors / "datasets" / repo_id

    def commit(self, repo: Path, branch: str, items: list[dict]) -> str:
        """One commit on ``branch`` from the ndjson items of the Hub commit API (regular files only)."""
        header = next(item["value"] for item in items if item["key"] == "header")
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            parent = subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
                                    capture_output=True, text=True).stdout.strip()
            if parent:
                git(repo, "read-tree", parent, env=env)
            for item in items:
                if item["key"] != "file":
                    assert item["key"] == "header", f"unexpected commit item {item['key']}"
                    continue
                blob = git(repo, "hash-object", "-w", "--stdin", data=base64.b64decode(item["value"]["content"]))
                git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{item['value']['path']}", env=env)
            tree = git(repo, "write-tree", env=env)
            sha = git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", header["summary"])
            git(repo, "update-ref", f"refs/heads/{branch}", sha)
            return sha

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Proxy(BaseHTTPRequestHandler):
    server: "TamperingProxy"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _rule(self, rules):
        return next((value for key, value in rules.items() if key in self.path), None)

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        self.server.requests.append((self.command, self.path))
        if (delay := self._rule(self.server.stall)) is not None:
            time.sleep(delay)
        if (status := self._rule(self.server.status)) is not None:
            data = json.dumps({"error": f"proxy answers {status}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if self.command != "HEAD" else b"")
            return
        upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")}
        upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        offset = self._rule(self.server.flip)
        if self.command == "GET" and offset is not None and response.status in (200, 206) and offset < len(data):
            data = data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]  # one bit of one byte, in transit
            self.server.flipped.append(self.path)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            self.send_header(key, value.replace(self.server.upstream, self.server.url))
        length = int(response.getheader("Content-Length") or len(data)) if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if self.command == "GET" and self._rule({k: True for k in self.server.cut}) and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])  # the transfer is cut half-way
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_HEAD = do_POST = _relay


class TamperingProxy(ThreadingHTTPServer):
    """A real HTTP proxy on loopback in front of ``upstream`` (olah), altering what passes through on request.

    Rules match a substring of the request path: ``flip[substr] = offset`` flips one bit of the
    body's byte at ``offset`` (GET); ``cut`` sends half the body and drops the connection;
    ``status[substr] = code`` answers that HTTP status instead of relaying; ``stall[substr] = s``
    waits ``s`` seconds before answering. ``requests`` logs (method, path); ``flipped`` the paths altered.
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Proxy)
        self.upstream = upstream.rstrip("/")
        host, port = self.upstream.removeprefix("http://").split(":")
        self.upstream_host, self.upstream_port = host, int(port)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.flip: dict[str, int] = {}
        self.cut: set[str] = set()
        self.status: dict[str, int] = {}
        self.stall: dict[str, float] = {}
        self.requests: list[tuple[str, str]] = []
        self.flipped: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def clear(self) -> None:
        self.flip.clear(), self.cut.clear(), self.status.clear(), self.stall.clear(), self.requests.clear(), self.flipped.clear()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up on a stalled answer: not the test's business

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
