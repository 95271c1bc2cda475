"""LINCS Cell Painting batch-1 files in their published layouts, served by a loopback HTTP server.

Layout served (``PHENO_BENCH_LINCS_MIRROR`` = the server's URL), mirroring the three publishers:

* ``/gallery/<plate>/<plate>_normalized_feature_select.csv.gz`` (Cell Painting Gallery, cpg0004-lincs);
* ``/github/barcode_platemap.csv`` and ``/github/platemap/<map>.txt`` (broadinstitute/lincs-cell-painting);
* ``/clue/repurposing_samples_20200324.txt`` (Drug Repurposing Hub).

Plates: the real SQ00015054 (plate map C-7161-01-LM6-027) from ``../shared/data`` and five more
written in its exact column layout: two replicates of the same map (SQ00015052, SQ00015053:
SQ00015054's treated wells with fresh noise, its DMSO profiles shuffled between DMSO wells) and three plates of map C-7161-01-LM6-028 (SQ00015056-58:
other Repurposing Hub compounds, the same six-dose series, one unresolvable Broad id). Each
synthetic plate has its own feature selection (a few features dropped, one added), as the
publishers' per-plate feature selection gives. ``barcode_platemap.csv`` also lists SQ00015225,
a plate that was never profiled.

The server answers HEAD and GET as S3 does for these objects: ``Content-Length`` and an ``ETag``
that is the quoted MD5 of the bytes (a single-part upload); ``etags`` overrides it per path (a
multipart ``"<hex>-<parts>"`` ETag), ``headers`` adds headers (``x-amz-server-side-encryption``),
``flip`` flips one bit of a file's body in transit and ``broken`` drops the connection half-way.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd

REAL_PLATE = "SQ00015054"
MAP_A, MAP_B = "C-7161-01-LM6-027", "C-7161-01-LM6-028"
PLATES = {REAL_PLATE: MAP_A, "SQ00015052": MAP_A, "SQ00015053": MAP_A, "SQ00015056": MAP_B, "SQ00015057": MAP_B, "SQ00015058": MAP_B}
UNPROFILED = "SQ00015225"
SAMPLES = "repurposing_samples_20200324.txt"
UNRESOLVABLE = "BRD-K00000000-001-01-1"


def _profile_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(frame.to_csv(index=False).encode())
    return buffer.getvalue()


def _platemap(frame: pd.DataFrame, name: str) -> str:
    treated = frame["Metadata_broad_sample"] != "DMSO"
    rows = pd.DataFrame({
        "plate_map_name": name,
        "well_position": frame["Metadata_Well"],
        "broad_sample": frame["Metadata_broad_sample"].where(treated, ""),
        "mg_per_ml": frame["Metadata_mg_per_ml"].where(treated, ""),
        "mmoles_per_liter": frame["Metadata_mmoles_per_liter"].where(treated, ""),
        "solvent": "DMSO",
    })
    return rows.to_csv(sep="\t", index=False)


def write_lincs(root: Path, shared: Path, *, seed: int = 0) -> dict:
    """Write the served tree under ``root`` (gallery/, github/, clue/); return facts for the tests."""
    rng = np.random.default_rng(seed)
    real_path = shared / "lincs-pilot1-SQ00015054" / f"{REAL_PLATE}_normalized_feature_select.csv.gz"
    real = pd.read_csv(real_path, low_memory=False)
    samples = pd.read_csv(shared / "lincs-pilot1-SQ00015054" / SAMPLES, sep="\t", comment="!", dtype=str)
    meta_cols = [c for c in real.columns if c.startswith("Metadata_")]
    features = [c for c in real.columns if not c.startswith("Metadata_")]

    # plate map B: the real plate's layout with other compounds (same dose series), one unresolvable
    used = set(real["Metadata_broad_sample"].str[:13])
    pool = samples[~samples["broad_id"].str[:13].isin(used) & samples["smiles"].notna()].drop_duplicates("broad_id")
    pool = pool[~pool["broad_id"].str[:13].duplicated(keep=False)]
    compounds = sorted(set(real.loc[real["Metadata_broad_sample"] != "DMSO", "Metadata_broad_sample"]))
    swap = dict(zip(compounds, pool["broad_id"].iloc[: len(compounds)].tolist()))
    swap[compounds[-1]] = UNRESOLVABLE
    layout_b = real[meta_cols].copy()
    layout_b["Metadata_broad_sample"] = layout_b["Metadata_broad_sample"].map(lambda b: swap.get(b, b))
    layout_b["Metadata_plate_map_name"] = MAP_B
    layout_b["Metadata_Plate_Map_Name"] = MAP_B

    gallery, github, clue = root / "gallery", root / "github", root / "clue"
    files = {}
    for plate, plate_map in PLATES.items():
        folder = gallery / plate
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{plate}_normalized_feature_select.csv.gz"
        if plate == REAL_PLATE:
            data = real_path.read_bytes()  # the publisher's bytes, unchanged
        else:
            meta = (real[meta_cols] if plate_map == MAP_A else layout_b).copy()
            for column in ("Metadata_Plate", "Metadata_Assay_Plate_Barcode"):
                meta[column] = plate
            values = real[features].to_numpy() + 0.3 * rng.standard_normal((len(real), len(features)))
            # DMSO wells are independent wells, not copies: each takes another DMSO well's profile; so do
            # the wells of the compounds "inactive" in this fixture (about 70 %, by a hash of the Broad id)
            dmso = np.flatnonzero((real["Metadata_broad_sample"] == "DMSO").to_numpy())
            labels = meta["Metadata_broad_sample"].reset_index(drop=True)
            plain = np.flatnonzero(labels.map(lambda c: c != "DMSO" and int(c[4:12], 36) % 10 < 7).to_numpy())
            values[dmso] = real[features].to_numpy()[rng.permutation(dmso)] + 0.3 * rng.standard_normal((len(dmso), len(features)))
            values[plain] = real[features].to_numpy()[rng.choice(dmso, size=len(plain))] + 0.3 * rng.standard_normal((len(plain), len(features)))
            dropped = set(rng.choice(features, size=5, replace=False))
            kept = [f for f in features if f not in dropped]
            block = pd.DataFrame(values.round(5), columns=features)[kept]
            block[f"Cells_Extra_{plate}"] = rng.standard_normal(len(block)).round(5)
            frame = pd.concat([meta.reset_index(drop=True), block], axis=1)
            data = _profile_bytes(frame)
        (folder / name).write_bytes(data)
        files[plate] = folder / name
    (github / "platemap").mkdir(parents=True, exist_ok=True)
    (github / "platemap" / f"{MAP_A}.txt").write_text(_platemap(real, MAP_A))
    (github / "platemap" / f"{MAP_B}.txt").write_text(_platemap(layout_b, MAP_B))
    barcodes = pd.DataFrame(
        [(p, m, 4, "2016-05-17") for p, m in PLATES.items()] + [(UNPROFILED, "C-7161-01-LM6-001", 5, "2016-05-30")],
        columns=["Assay_Plate_Barcode", "Plate_Map_Name", "Batch_Number", "Batch_Date"],
    )
    barcodes.to_csv(github / "barcode_platemap.csv", index=False)
    clue.mkdir(parents=True, exist_ok=True)
    (clue / SAMPLES).write_bytes((shared / "lincs-pilot1-SQ00015054" / SAMPLES).read_bytes())
    return {"files": files, "n_wells": len(real) * len(PLATES), "unresolvable": UNRESOLVABLE[:13]}


class _Handler(BaseHTTPRequestHandler):
    server: "FileServer"

    def log_message(self, *args) -> None:
        pass

    def _head(self) -> bytes | None:
        self.server.requests.append(self.path)
        path = (self.server.root / self.path.lstrip("/")).resolve()
        if not path.is_file() or self.server.root not in path.parents:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", self.server.etags.get(self.path, f'"{hashlib.md5(data).hexdigest()}"'))
        for key, value in self.server.headers.get(self.path, {}).items():
            self.send_header(key, value)
        self.end_headers()
        return data

    def do_HEAD(self) -> None:  # noqa: N802
        self._head()

    def do_GET(self) -> None:  # noqa: N802
        data = self._head()
        if data is None:
            return
        if self.path in self.server.flip:
            data = data[:100] + bytes([data[100] ^ 0x01]) + data[101:]
        if self.path in self.server.broken:  # the connection drops half-way through the body
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


class FileServer(ThreadingHTTPServer):
    """A static file server on loopback answering as S3 (size, MD5 ETag); ``broken`` paths drop the connection
    half-way, ``flip`` paths arrive with one bit flipped, ``etags``/``headers`` override what HEAD says; ``requests`` logs paths."""

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.broken: set[str] = set()
        self.flip: set[str] = set()
        self.etags: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.requests: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
