"""Duplicate candidates are bounded per image (work grows as N x k, never with the number of pairs
above a threshold), and byte copies can be found from hashes alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.dedupe.run import group_vectors, join_edges, same_bytes
from lookalike.types import DuplicateOptions


def _tight_cluster(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """`count` vectors all within cosine 0.99 of each other: every pair is above any candidate floor."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=dim)
    vectors = centre + 0.02 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _files(folder: Path, count: int, name: str = "{n:03d}.jpg") -> list[Path]:
    """Files for the keeper rule to stat (their content does not matter here)."""
    paths = [folder / name.format(n=n) for n in range(count)]
    for path in paths:
        path.write_bytes(b"x")
    return paths


@pytest.mark.parametrize("source", ["exact", "join"])
def test_candidates_grow_as_n_times_k_not_with_pairs(source: str, tmp_path: Path) -> None:
    count, k = 300, 4
    vectors = _tight_cluster(count)
    assert float((vectors @ vectors.T).min()) > 0.95  # all 44,850 pairs are above the floor
    paths = _files(tmp_path, count)
    options = DuplicateOptions(threshold=0.9, check=False, neighbours=k)
    edges = None if source == "exact" else join_edges()
    groups, _, stats = group_vectors(paths, vectors, [f"h{n}" for n in range(count)], "histogram", options,
                                     edge_source=edges)
    assert 0 < stats.candidates <= count * k  # bounded, not 44,850
    assert len(groups) == 1 and len(groups[0].members) == count  # the bounded graph still joins them all


def test_same_bytes_groups_by_hash_only(tmp_path: Path) -> None:
    paths = _files(tmp_path, 5, "{n}.jpg")
    report = same_bytes(paths, ["a", "b", "a", "c", "a"])
    assert [sorted(p.name for p in g.members) for g in report.groups] == [["0.jpg", "2.jpg", "4.jpg"]]
    assert report.groups[0].kind() == "exact" and report.stats.candidates == 0


def test_same_bytes_on_a_folder_needs_no_model(image_folder: Path) -> None:
    copy = image_folder / "b" / "copy.jpg"
    copy.write_bytes((image_folder / "a" / "img_1.jpg").read_bytes())
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    result = CliRunner().invoke(app, ["duplicates", str(image_folder), "--same-bytes", "-m", "no-such-model",
                                      "-f", "csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.strip().splitlines()[1:]]
    assert sorted(Path(r[2]).name for r in rows) == ["copy.jpg", "img_1.jpg"] and {r[1] for r in rows} == {"exact"}
    assert not (image_folder / ".lookalike").exists()
    refused = CliRunner().invoke(app, ["duplicates", str(image_folder), "--same-bytes", "--verify"])
    assert refused.exit_code != 0 and "--same-bytes" in str(refused.exception or refused.output)
