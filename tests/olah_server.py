"""A Hub on loopback for the tests: olah serves git repos read-only; HubWriter accepts uploads.

olah (a self-hosted Hugging Face Hub mirror) serves ``<mirrors>/datasets/<org>/<name>`` (a git
repository) at ``/api/datasets/<org>/<name>/...`` and ``/datasets/<org>/<name>/resolve/...``
when started with ``mirrors-path`` and ``[accessibility] offline = true``. olah has no upload
routes, so :class:`HubWriter` plays the write half of the Hub API (create repo, validate the card,
preupload, commit, branch) and commits what huggingface_hub sends into the same git repos.
"""

from __future__ import annotations

import base64
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


def commit_folder(repo: Path, folder: Path, message: str) -> str:
    """Make the work tree of git repo ``repo`` (created if needed, branch main) equal ``folder``; commit; its sha."""
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(folder, repo, dirs_exist_ok=True)
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
