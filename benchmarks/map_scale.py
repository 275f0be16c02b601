"""How `lookalike map` scales: time of each stage and the size of the HTML for N points.

Vectors are synthetic and clustered (the map code never looks at where they came from); the images
behind the points are real photos cycled from --images, so thumbnail decoding costs what it would.

    python benchmarks/map_scale.py --images ../shared/data/ukbench-a --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lookalike.evaluation.synthetic import clustered_vectors
from lookalike.images import find_images
from lookalike.viz.maps import HTML_THUMBNAILS, PNG_THUMBNAILS, MapData, build_figure, map_html, map_png
from lookalike.viz.projection import kmeans, pca


def bench(count: int, dim: int, images: list[Path], out: Path) -> dict[str, float]:
    vectors, _ = clustered_vectors(count, dim, queries=1, seed=0)
    paths = [images[i % len(images)] for i in range(count)]
    timings: dict[str, float] = {}
    started = time.perf_counter()
    projection = pca(vectors, 2)
    timings["pca_s"] = time.perf_counter() - started
    started = time.perf_counter()
    clusters = kmeans(vectors, 8)
    timings["kmeans_s"] = time.perf_counter() - started
    data = MapData(projection, [f"cluster {c + 1}" for c in clusters.tolist()], [p.name for p in paths])
    started = time.perf_counter()
    build_figure(data, "bench")
    timings["figure_s"] = time.perf_counter() - started
    started = time.perf_counter()
    html = map_html(data, paths, out / f"map-{count}.html", "bench")
    timings["html_s"] = time.perf_counter() - started
    timings["html_mb"] = html.stat().st_size / 1e6
    started = time.perf_counter()
    map_png(data, paths, out / f"map-{count}.png", "bench")
    timings["png_s"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="A folder of photos for the thumbnails.")
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated point counts.")
    parser.add_argument("--dim", type=int, default=768, help="Vector dimension.")
    args = parser.parse_args()
    images = find_images(args.images)
    if not images:
        sys.exit(f"no images in {args.images}")
    print(f"thumbnails: {HTML_THUMBNAILS} in HTML, {PNG_THUMBNAILS} in PNG; dim {args.dim}")
    print("| points | PCA s | k-means s | figure s | HTML s | HTML MB | PNG s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for count in (int(s) for s in args.sizes.split(",")):
            t = bench(count, args.dim, images, Path(scratch))
            print(f"| {count:,} | {t['pca_s']:.1f} | {t['kmeans_s']:.1f} | {t['figure_s']:.1f} | {t['html_s']:.1f} "
                  f"| {t['html_mb']:.1f} | {t['png_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
