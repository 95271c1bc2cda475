"""The pinned release of RxRx3-core that ``rxrx3-core-v1`` is built from: its Hub commit, each file's checksums,
and the fingerprints of the benchmarks built from it.

Empty in this version: the machines pheno-bench is developed on cannot reach the Hugging Face Hub.
A maintainer with network records a real fetch here with ``pheno-bench sources pin rxrx3-core``
(:func:`pheno_bench.pins.pin_source`; the step is on the Field benchmarks page), and the next
release then pins it. Until then no file is trusted on first use either: every fetch resolves the
revision to its commit sha and checks each file against the Hub's own checksum for that commit
(the LFS sha256, or the git blob id) before it is used or recorded (:mod:`pheno_bench.fetch_hub`).

``RELEASE`` (written by the pin command): ``{"source", "revision": commit sha, "files": {name:
{"sha256", "size", "publisher", "checksum"}}, "fingerprints": {benchmark: sha256}, "recorded_with"}``.
"""

# >>> recorded by `pheno-bench sources pin` (pheno_bench.pins): do not edit by hand
RELEASE: dict = {}
# <<< end of the recorded release
