"""Demonstration (not a test): RxRx3-core served through olah, a byte flipped in transit, the Hub down, ``--force``.

Run from the repository root with the project's venv::

    python tests/demo_hub_tampering.py [--work /tmp/hub-tampering-demo]

It writes a small RxRx3-core fixture in the published layout, commits it through git-lfs into a
git repository that olah serves as ``recursionpharma/rxrx3-core``, puts a real HTTP proxy in front
of olah that flips one bit of one byte of the embeddings file, and runs the ``pheno-bench sources
fetch`` commands a user would, printing each command, its exit code and output, and the sha256 and
inode of the kept files. Everything listens on loopback and is stopped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from olah_server import Olah, TamperingProxy, commit_folder  # noqa: E402
from rxrx3_fixture import EMBEDDINGS_FILE, METADATA_FILE, load_smiles, write_rxrx3  # noqa: E402

from pheno_bench.paths import data_root  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/hub-tampering-demo"))
    work = parser.parse_args().work
    shutil.rmtree(work, ignore_errors=True)
    release = work / "release"
    write_rxrx3(release, load_smiles(data_root(), 30))
    sha = commit_folder(work / "mirrors" / "datasets" / "recursionpharma" / "rxrx3-core", release, "release", lfs=("*.parquet", "*.csv"))
    olah = Olah(work / "mirrors", work / "olah")
    proxy = TamperingProxy(olah.url)
    home = work / "home"
    env = {**os.environ, "PHENO_BENCH_HOME": str(home), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    kept = home / "sources" / "rxrx3-core" / sha

    def run(endpoint: str, *args: str) -> None:
        label = {olah.url: "olah", proxy.url: "proxy (flips a byte)" if proxy.flip else "proxy", "http://127.0.0.1:9": "nothing (Hub down)"}[endpoint]
        print(f"\n$ HF_ENDPOINT={endpoint} pheno-bench sources fetch rxrx3-core {' '.join(args)}    # HF_ENDPOINT -> {label}")
        done = subprocess.run([sys.executable, "-m", "pheno_bench.cli", "sources", "fetch", "rxrx3-core", *args],
                              capture_output=True, text=True, env={**env, "HF_ENDPOINT": endpoint}, cwd=work)
        for line in (done.stdout + done.stderr).strip().splitlines():
            print(f"  {line}")
        print(f"  [exit {done.returncode}; stderr lines: {len(done.stderr.strip().splitlines())}]")

    def show() -> None:
        lock = home / "sources" / "rxrx3-core.lock.json"
        print(f"  lock file: {'present' if lock.is_file() else 'absent'}")
        for name in (METADATA_FILE, EMBEDDINGS_FILE):
            path = kept / name
            if path.is_file():
                print(f"  kept {name}: sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}  inode {path.stat().st_ino}")
            else:
                print(f"  kept {name}: absent")

    try:
        print(f"fixture committed as recursionpharma/rxrx3-core@{sha} (both files through git-lfs); olah at {olah.url}, proxy at {proxy.url}")
        print(f"published sha256 of {EMBEDDINGS_FILE}: {hashlib.sha256((release / EMBEDDINGS_FILE).read_bytes()).hexdigest()}")
        proxy.flip[EMBEDDINGS_FILE] = 4096
        print("\n# 1. first fetch, nothing fetched before (no lock), one bit flipped in transit:")
        run(proxy.url, "--revision", sha)
        print(f"  proxy altered: {proxy.flipped}")
        show()
        proxy.clear()
        print("\n# 2. the same fetch from olah directly:")
        run(olah.url, "--revision", sha)
        show()
        print("\n# 3. --force with the Hub down:")
        run("http://127.0.0.1:9", "--force")
        show()
        print("\n# 4. --force with one bit flipped in transit:")
        proxy.flip[EMBEDDINGS_FILE] = 4096
        run(proxy.url, "--force")
        show()
        proxy.clear()
        print("\n# 5. a good --force (through the proxy, nothing altered):")
        run(proxy.url, "--force")
        show()
    finally:
        proxy.stop()
        olah.stop()


if __name__ == "__main__":
    main()
