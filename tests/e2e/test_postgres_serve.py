"""`lookalike serve --store postgresql://...` on a real server (pgserver) and a real uvicorn on loopback:
one search through the REST API; and a store's URL shown as given (no collapsed `//`, no password)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import pattern_image, run_cli

from lookalike.cli.common import path_text
from lookalike.errors import LibraryError
from lookalike.store.postgres_schema import UrlLocation, redact


def _folder(root: Path, seeds: range) -> Path:
    root.mkdir(parents=True)
    for seed in seeds:
        pattern_image(seed, (64, 48)).save(root / f"img_{seed}.png")
    return root


def test_a_store_url_is_printed_as_given_without_its_password() -> None:
    url = "postgresql://me:s3cret@db.example:5433/photos?host=/run/pg"
    where = UrlLocation(f"{redact(url)}#library=3")
    shown = "postgresql://me:***@db.example:5433/photos?host=/run/pg#library=3"
    assert path_text(where) == str(where) == f"{where}" == shown
    assert str(LibraryError("no image with id 9", path=where)) == f"{shown}: no image with id 9"


def test_index_names_the_store_as_given(tmp_path: Path, fresh_database) -> None:
    url = fresh_database().replace("postgresql://postgres:@", "postgresql://postgres:s3cret@", 1)  # trust: any
    folder = _folder(tmp_path / "photos", range(2))
    done = run_cli("index", str(folder), "--store", url, "-m", "histogram")
    shown = url.replace(":s3cret@", ":***@", 1)
    assert re.search(rf"^library: {re.escape(shown)}#library=\d+$", done.stderr, re.MULTILINE), done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_serve_answers_a_search_from_a_postgresql_store(tmp_path: Path, fresh_database) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import httpx
    from web.web_server import server_process

    url = fresh_database()
    folder = _folder(tmp_path / "photos", range(6))
    run_cli("index", str(folder), "--store", url, "-m", "histogram")
    with server_process([str(folder), "--store", url], tmp_path / "serve.log") as (base, _):
        stats = httpx.get(f"{base}/api/stats", timeout=30).json()
        assert (stats["model"], stats["indexed"]) == ("histogram", 6)
        query = (folder / "img_3.png").read_bytes()
        found = httpx.post(f"{base}/api/search?k=2", files={"file": ("q.png", query)}, timeout=60)
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        assert len(results) == 2 and results[0]["path"] == "img_3.png"
        assert results[0]["score"] == pytest.approx(1.0, abs=1e-4) and results[0]["score"] > results[1]["score"]
    assert "serving" in (tmp_path / "serve.log").read_text()
