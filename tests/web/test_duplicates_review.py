"""Duplicates reviewed in the page, end to end on a real library (EfficientNet-Lite0) and a real uvicorn:
groups come as they are found (the service's listener hears the byte copies first, then the confirmed
near copies; a running job's poll carries them as provisional `partial` groups until the result
replaces them), and a person's decisions made through the REST API hold in later CLI runs (a chosen
keeper beats `--keep`, also for `--same-bytes` and `--apply`; "not a duplicate" keeps a pair apart)."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("cv2")
from typer.testing import CliRunner  # noqa: E402
from web_server import PausedDuplicates, indexed_service, serving  # noqa: E402

from lookalike.cli import app as cli  # noqa: E402
from lookalike.web.app import create_app  # noqa: E402

pytestmark = pytest.mark.shared_data
CAT, CAT_COPY = "Cat_1.jpg", "copies/Cat_1.jpg"  # byte-identical
DOG, DOG_SMALL = "Dog_2.jpg", "Dog_2_small.jpg"  # an edited (resized, recompressed) copy


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six sample photos, a byte copy of Cat_1 in a sub-folder and a resized copy of Dog_2."""
    target = tmp_path_factory.mktemp("review") / "photos"
    target.mkdir()
    for image in sorted((shared_data / "samples" / "Images").glob("*.jpg")):
        shutil.copy(image, target / image.name)
    (target / CAT_COPY).parent.mkdir()
    shutil.copy(target / CAT, target / CAT_COPY)
    with Image.open(target / DOG) as dog:
        dog.convert("RGB").resize((int(dog.width * 0.6), int(dog.height * 0.6))).save(target / DOG_SMALL, quality=70)
    return target


@pytest.fixture(scope="module")
def service(folder: Path) -> Iterator[tuple[Any, Any]]:
    with indexed_service(folder) as pair:
        yield pair


def relative(library: Any, paths: list[Path]) -> list[str]:
    return sorted(path.relative_to(library.root).as_posix() for path in paths)


def ids(library: Any) -> dict[str, int]:
    snap = library.snapshot()
    return {path.relative_to(library.root).as_posix(): int(i) for path, i in zip(snap.paths, snap.ids, strict=True)}


def test_groups_found_so_far_come_byte_copies_first_then_near_and_end_as_the_result(service) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    heard: list[tuple[str, list[list[str]]]] = []
    report = built.duplicates(library, found=lambda partial: heard.append(
        (partial.phase, sorted(relative(library, group.members) for group in partial.groups()))))
    assert heard[0] == ("exact", [[CAT, CAT_COPY]])  # before any candidate is checked
    near = [groups for phase, groups in heard if phase == "near"]
    assert near and [DOG, DOG_SMALL] in near[-1]
    final = sorted(relative(library, group.members) for group in report.groups)
    assert final == [[CAT, CAT_COPY], [DOG, DOG_SMALL]] and near[-1] == final


def test_a_running_job_shows_provisional_groups_then_the_result(service) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    known = ids(library)
    with serving(create_app(PausedDuplicates(built), library)) as base:
        started = httpx.post(f"{base}/api/duplicates", timeout=30)
        assert started.status_code == 202
        polls: list[dict[str, Any]] = [started.json()]
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{base}/api/jobs/{started.json()['job']}", timeout=30).json())["status"] == "running":
            polls.append(body)
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert body["status"] == "done" and body["partial"] is None  # the result replaced them
        exact = [poll["partial"] for poll in polls if poll["partial"] and poll["partial"]["phase"] == "exact"]
        assert exact and [sorted(m["id"] for m in group["members"]) for group in exact[0]["groups"]] == [
            sorted([known[CAT], known[CAT_COPY]])]  # the byte copies, before any check
        shown = [poll["partial"] for poll in polls if poll["partial"] and poll["partial"]["phase"] == "near"]
        assert shown, "no poll carried the near groups found so far"
        partial = shown[0]
        assert partial["provisional"] is True and partial["count"] == len(partial["groups"]) == 2
        members = sorted(sorted(m["id"] for m in group["members"]) for group in partial["groups"])
        assert members == sorted([sorted([known[CAT], known[CAT_COPY]]), sorted([known[DOG], known[DOG_SMALL]])])
        assert all(sum(m["keeper"] for m in group["members"]) == 1 for group in partial["groups"])
        final = sorted(sorted(m["id"] for m in group["members"]) for group in body["result"]["groups"])
        assert final == members
        schema = httpx.get(f"{base}/openapi.json", timeout=30).json()
        job = schema["components"]["schemas"]["JobOut"]["properties"]["partial"]
        assert "DuplicatesPartialOut" in str(job) and "DuplicatesPartialOut" in schema["components"]["schemas"]


def rows(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def kept(found: list[dict[str, str]], folder: Path) -> dict[str, list[str]]:
    """Group id -> its members (relative paths), the keeper first."""
    groups: dict[str, list[str]] = {}
    for row in sorted(found, key=lambda row: row["keeper"] != "keep"):
        groups.setdefault(row["group"], []).append(Path(row["path"]).resolve().relative_to(folder).as_posix())
    return groups


def test_decisions_made_in_the_page_hold_in_later_cli_runs(service, folder: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    built, library = service
    known = ids(library)
    run = CliRunner()
    rule = ["--keep", f"in:{folder / 'copies'}", "-f", "csv"]  # the rule alone keeps the copy
    before = kept(rows(run.invoke(cli, ["duplicates", str(folder), *rule])), folder).values()
    assert sorted(before) == sorted([[CAT_COPY, CAT], [DOG, DOG_SMALL]])
    with serving(create_app(built, library)) as base:
        post = lambda path, body: httpx.post(f"{base}/api/duplicates/{path}", json=body, timeout=60)  # noqa: E731
        assert post("keeper", {"keeper": known[CAT]}).status_code == 200  # the original, not the copy
        assert post("not-duplicate", {"ids": [known[DOG], known[DOG_SMALL]]}).json() == {"pairs": 1}

        # later CLI runs: the person's keeper beats --keep, the dog pair stays apart
        assert list(kept(rows(run.invoke(cli, ["duplicates", str(folder), *rule])), folder).values()) == [
            [CAT, CAT_COPY]]
        same = kept(rows(run.invoke(cli, ["duplicates", str(folder), "--same-bytes", *rule])), folder)
        assert list(same.values()) == [[CAT, CAT_COPY]]  # among byte-identical copies, the very file chosen
        moved = run.invoke(cli, ["duplicates", str(folder), *rule, "--action", "move-to", "--to",
                                 str(tmp_path / "dupes"), "--apply"])
        assert moved.exit_code == 0, moved.output
        assert (folder / CAT).is_file() and not (folder / CAT_COPY).exists()
        assert (tmp_path / "dupes" / CAT_COPY).is_file()
        undone = run.invoke(cli, ["undo", "--folder", str(folder)])
        assert undone.exit_code == 0 and (folder / CAT_COPY).is_file(), undone.output

        # and a later page run
        job = httpx.post(f"{base}/api/duplicates", timeout=30).json()["job"]
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{base}/api/jobs/{job}", timeout=30).json())["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        groups = body["result"]["groups"]
        assert [[(m["path"], m["keeper"]) for m in group["members"]] for group in groups] == [
            [(CAT, True), (CAT_COPY, False)]]
