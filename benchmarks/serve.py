"""Web server benchmark: latency (p50/p95) and requests/s of upload search and id search at concurrency
1 and 8, against `lookalike serve` on loopback, on a 10k-vector library (six real photos indexed with
EfficientNet-Lite0 plus seeded clustered synthetic vectors), beside the cold CLI `search` of the same
query and the in-process cost of one upload (decode + one model forward), which bounds a warm upload search.

    python benchmarks/serve.py --samples ../shared/data/samples --vectors 10000
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does; before torch loads

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from lookalike.evaluation.synthetic import clustered_vectors  # noqa: E402
from lookalike.store import Library  # noqa: E402
from lookalike.store.catalog import NewFile  # noqa: E402

MODEL = "efficientnet-lite0"


def build_library(samples: Path, folder: Path, total: int, seed: int) -> tuple[Path, list[int]]:
    """The sample photos indexed for real, then synthetic vectors up to `total` (no files behind them)."""
    folder.mkdir()
    for image in sorted((samples / "Images").glob("*.jpg")):
        shutil.copy(image, folder / image.name)
    with Library.open(folder, model=MODEL, create=True) as library:
        library.sync()
        extra = total - library.stats(scan=False).indexed
        vectors, _ = clustered_vectors(extra, library.spec.dim, queries=0, seed=seed)
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        files = [NewFile(f"synthetic/{i:06d}.jpg", 0, 0, "") for i in range(extra)]
        library.add_vectors(files, vectors)
        ids = sorted(library.files(range(1, total + 1)))
        return library.paths.directory, ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(requests: list[tuple[str, str, dict]], client_count: int, base: str) -> tuple[list[float], float]:
    """Per-request latencies (ms) and the wall time of sending `requests` from `client_count` threads."""
    clients = [httpx.Client(base_url=base, timeout=300) for _ in range(client_count)]
    latencies: list[float] = []

    def send(position: int) -> None:
        method, url, kwargs = requests[position]
        client = clients[position % client_count]
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        latencies.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text}")

    start = time.perf_counter()
    with ThreadPoolExecutor(client_count) as pool:
        list(pool.map(send, range(len(requests))))
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    return latencies, wall


def upload_bound(query: Path, repeats: int = 20) -> float:
    """Median ms of decode + one forward of the query, in process (what a warm upload search must pay)."""
    from lookalike.embedders import create_embedder
    from lookalike.similarity.query import embed_image

    embedder = create_embedder(MODEL)
    data = query.read_bytes()
    for _ in range(3):
        embed_image(data, embedder)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        embed_image(data, embedder)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=Path("../shared/data/samples"))
    parser.add_argument("--vectors", type=int, default=10_000)
    parser.add_argument("--uploads", type=int, default=40, help="Upload searches per concurrency level.")
    parser.add_argument("--id-searches", type=int, default=400, help="Id searches per concurrency level.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    query = args.samples / "Query_Image.jpg"
    if not query.is_file():
        print(f"# {query} not found: serve benchmark skipped", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        library_dir, ids = build_library(args.samples, folder, args.vectors, args.seed)

        start = time.perf_counter()
        cold = subprocess.run([sys.executable, "-m", "lookalike", "search", str(query), "--library", str(library_dir),
                               "-k", "10"], capture_output=True, text=True, timeout=600)
        cold_s = time.perf_counter() - start
        if cold.returncode != 0:
            raise RuntimeError(f"cold CLI search failed: {cold.stderr}")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        start = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "lookalike", "serve", str(folder), "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                try:
                    if httpx.get(f"{base}/api/stats", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise RuntimeError(f"lookalike serve exited: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.1)
            startup_s = time.perf_counter() - start
            upload = ("POST", "/api/search?k=10", {"files": {"file": ("q.jpg", query.read_bytes())}})
            rng = np.random.default_rng(args.seed)
            rows = []
            timed([upload] * 3, 1, base)  # warm-up
            for concurrency in (1, 8):
                latencies, wall = timed([upload] * args.uploads, concurrency, base)
                rows.append(("upload search", concurrency, latencies, wall))
                picks = rng.choice(ids, size=args.id_searches)
                requests = [("GET", f"/api/images/{int(i)}/similar?k=10", {}) for i in picks]
                latencies, wall = timed(requests, concurrency, base)
                rows.append(("id search", concurrency, latencies, wall))
        finally:
            server.terminate()
            server.wait(timeout=30)
    bound = upload_bound(query)
    print(f"## lookalike serve on {args.vectors:,} vectors ({MODEL}, flat index, {os.cpu_count()} cores)")
    print("| request | concurrency | requests | p50 (ms) | p95 (ms) | requests/s |")
    print("|---|---|---|---|---|---|")
    for name, concurrency, latencies, wall in rows:
        print(f"| {name} | {concurrency} | {len(latencies)} | {np.percentile(latencies, 50):.1f} | "
              f"{np.percentile(latencies, 95):.1f} | {len(latencies) / wall:.1f} |")
    print()
    print(f"- cold CLI `lookalike search Query_Image.jpg --library ...`: {cold_s:.2f} s wall")
    print(f"- server start-up to first answer (imports + model load): {startup_s:.2f} s")
    print(f"- in-process decode + one forward of the same query: {bound:.1f} ms (median of 20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
