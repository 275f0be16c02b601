"""The duplicate engine's parts: calibration, candidate edges, verification, grouping with distinct
decisions and keepers, and reversible actions."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from lookalike.dedupe import actions
from lookalike.dedupe.calibration import best_f1_threshold, duplicate_thresholds
from lookalike.dedupe.edges import candidate_edges
from lookalike.dedupe.groups import Thresholds, build_groups
from lookalike.dedupe.invariance import crop_views, turned_views
from lookalike.dedupe.keepers import FileFacts, choose_keeper
from lookalike.dedupe.verifier import Verifier
from lookalike.dedupe.verify import VerifyOptions, spread
from lookalike.errors import LookalikeError


def _brute_f1(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    best = (-1.0, 0.0)
    for threshold in np.unique(scores):
        predicted = scores >= threshold
        tp = int((predicted & same).sum())
        f1 = 2 * tp / (predicted.sum() + same.sum()) if tp else 0.0
        if f1 > best[0] or (f1 == best[0] and threshold > best[1]):
            best = (f1, float(threshold))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_f1_threshold_matches_brute_force_scan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    same = rng.random(300) < 0.3
    scores = np.round(np.where(same, rng.normal(0.8, 0.1, 300), rng.normal(0.55, 0.12, 300)), 2)  # ties too
    found = best_f1_threshold(scores, same)
    f1, threshold = _brute_f1(scores, same)
    assert found.threshold == pytest.approx(threshold)
    assert found.f1 == pytest.approx(f1)
    predicted = scores >= found.threshold
    assert found.recall == pytest.approx((predicted & same).sum() / same.sum())
    assert found.precision == pytest.approx((predicted & same).sum() / predicted.sum())


def test_duplicate_thresholds_keep_recall_and_accept_above_every_negative() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.75, 0.4, 0.3])
    same = np.array([True, True, True, True, True, False, False, False])
    found = duplicate_thresholds(scores, same, recall=0.8, margin=0.01)
    assert found.candidate == pytest.approx(0.59)  # the 4th of 5 positives, less the margin
    assert found.accept == pytest.approx(0.76)  # above the best negative (0.75)
    assert found.negatives_above_accept == 0


def test_candidate_edges_equal_brute_force_and_fold_views() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    edges = candidate_edges(vectors, 0.5)
    sims = vectors @ vectors.T
    i, j = np.triu_indices(200, 1)
    expected = {(int(a), int(b)) for a, b in zip(i, j, strict=True) if sims[a, b] >= 0.5}
    assert {(int(a), int(b)) for a, b in zip(edges.i, edges.j, strict=True)} == expected
    # a view of row 3 equal to row 7 lifts the (3, 7) pair to 1.0
    views = vectors[[7]]
    folded = candidate_edges(vectors, 0.5, np.concatenate([vectors, views]), np.r_[np.arange(200), 3])
    score = dict(zip(zip(folded.i.tolist(), folded.j.tolist(), strict=True), folded.score.tolist(), strict=True))
    assert score[(3, 7)] == pytest.approx(1.0, abs=1e-5)


def test_candidate_edges_through_views_keep_k_distinct_images() -> None:
    """Searched views (several rows per image) count an image once, at its best view, and `k` means
    each asking view's k best other images; the result equals a brute force over all view pairs."""
    rng = np.random.default_rng(2)
    images, dim = 40, 8
    rows = rng.normal(size=(images * 3, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    owners = np.repeat(np.arange(images), 3)
    edges = candidate_edges(rows, -1.0, rows, owners, k=4, target_owners=owners)
    expected: dict[tuple[int, int], float] = {}
    for query, owner in zip(rows, owners, strict=True):
        best = np.full(images, -np.inf)
        np.maximum.at(best, owners, rows @ query)
        best[owner] = -np.inf
        for other in np.argsort(-best, kind="stable")[:4]:
            pair = (min(int(owner), int(other)), max(int(owner), int(other)))
            expected[pair] = max(expected.get(pair, -np.inf), float(best[other]))
    found = dict(zip(zip(edges.i.tolist(), edges.j.tolist(), strict=True), edges.score.tolist(), strict=True))
    assert set(found) == set(expected)
    assert all(found[pair] == pytest.approx(score, abs=1e-5) for pair, score in expected.items())


def test_k_distinct_images_when_some_images_have_fewer_views() -> None:
    """Unreadable files keep only their stored vector while the others have five: a query still gets
    its k nearest other images, though its best hits are all views of a few images."""
    rng = np.random.default_rng(3)
    near = np.repeat(np.arange(1, 7), 5)  # images 1-6: five views each, all close to the query
    far = np.arange(7, 19)  # images 7-18: one vector each (their views could not be read)
    owners = np.r_[0, near, far]
    query = np.ones(6, np.float32) / np.sqrt(6)
    spread_out = 0.02 * near[:, None] * rng.normal(size=(len(near), 6))  # image 1's views nearest, then 2's...
    rows = np.r_[[query], query + spread_out, rng.normal(size=(len(far), 6))]
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    edges = candidate_edges(rows, -1.0, rows[:1], np.zeros(1, np.int64), k=5, target_owners=owners)
    assert len(edges) == 5 and set(edges.j.tolist()) <= set(range(1, 7))


def test_similar_pairs_never_reach_below_the_candidate_threshold() -> None:
    from lookalike.dedupe.run import DuplicateOptions, resolve_thresholds

    everything = resolve_thresholds("efficientnet-lite0", DuplicateOptions(similar=-1.0))
    assert everything.similar == everything.candidate < everything.accept
    assert resolve_thresholds("efficientnet-lite0", DuplicateOptions(similar=0.95)).similar == 0.95
    assert resolve_thresholds("efficientnet-lite0", DuplicateOptions()).similar is None


def test_crop_views_are_the_centre_and_four_corners() -> None:
    picture = Image.new("RGB", (200, 100))
    crops = crop_views(picture)
    assert [c.size for c in crops] == [(130, 65)] * 5
    assert len(turned_views(picture)) == 4


def test_spread_tells_a_band_of_text_from_a_scene() -> None:
    rng = np.random.default_rng(0)
    scene = rng.uniform(0, 400, size=(60, 2))
    band = np.c_[rng.uniform(20, 380, 60), rng.uniform(200, 230, 60)]
    strays = np.r_[band, [[10.0, 10.0], [390.0, 390.0], [200.0, 20.0]]]  # a few stray inliers
    assert spread(scene, (400, 400)) > 0.5
    assert spread(band, (400, 400)) < 0.1
    assert spread(strays, (400, 400)) < 0.12 <= VerifyOptions().min_spread


def _facts(path: Path) -> FileFacts:
    return FileFacts(path, 100, 10, 0)


def test_groups_kinds_verification_and_distinct_split() -> None:
    paths = [Path(f"/x/{name}.jpg") for name in "abcde"]
    hashes = ["h0", "h0", "h2", "h3", "h4"]  # a and b: same bytes
    from lookalike.dedupe.edges import Edges

    edges = Edges(np.array([1, 2, 3]), np.array([2, 3, 4]), np.array([0.95, 0.7, 0.65], np.float32))
    checked: list[tuple[int, int]] = []
    same_photo = {frozenset(pair) for pair in [(1, 2), (2, 3), (0, 3), (1, 3)]}

    def verify(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        checked.extend(zip(i.tolist(), j.tolist(), strict=True))
        found = np.array([frozenset((a, b)) in same_photo for a, b in zip(i.tolist(), j.tolist(), strict=True)])
        return found, np.where(found, 50, 3)

    thresholds = Thresholds(candidate=0.6, accept=0.9)
    groups, stats = build_groups(paths, hashes, edges, thresholds, verify, facts=_facts)
    assert checked[:3] == [(1, 2), (2, 3), (3, 4)]  # every candidate is checked, even above accept
    assert [g.members for g in groups] == [paths[:4]]
    assert groups[0].kinds == ["exact", "near"]
    inliers = {(e.a.name, e.b.name): e.inliers for e in groups[0].edges}
    assert inliers[("c.jpg", "d.jpg")] == 50 and inliers[("b.jpg", "c.jpg")] == 50
    assert stats.confirmed == 2 and stats.rejected == 1 and stats.accepted == 0
    # with --similar the rejected edge is kept as similar
    similar, _ = build_groups(paths, hashes, edges, Thresholds(0.6, 0.9, similar=0.6), verify, facts=_facts)
    assert "similar" in similar[0].kinds and len(similar[0].members) == 5
    # "c and d are distinct": the group splits at that link and c, d never share a group
    split, stats = build_groups(paths, hashes, edges, thresholds, verify, distinct={("h2", "h3")}, facts=_facts)
    assert [g.members for g in split] == [paths[:3]]
    assert stats.refused_distinct == 1


def test_near_groups_do_not_chain_through_a_middle_photo() -> None:
    """A~B and B~C are confirmed but A and C are different photos: whichever is the keeper, the group
    never holds both A and C (every member is checked against the keeper)."""
    from lookalike.dedupe.edges import Edges

    paths = [Path(f"/x/{name}.jpg") for name in "abc"]
    pixels = {"a.jpg": 300, "b.jpg": 200, "c.jpg": 100}  # a is the best keeper
    same_photo = {frozenset((0, 1)), frozenset((1, 2))}
    asked: list[tuple[int, int]] = []

    def verify(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.extend(zip(i.tolist(), j.tolist(), strict=True))
        found = np.array([frozenset((a, b)) in same_photo for a, b in zip(i.tolist(), j.tolist(), strict=True)])
        return found, np.where(found, 60, 0)

    edges = Edges(np.array([0, 1]), np.array([1, 2]), np.array([0.9, 0.95], np.float32))
    groups, stats = build_groups(paths, ["h0", "h1", "h2"], edges, Thresholds(0.6, 0.9), verify,
                                 facts=lambda p: FileFacts(p, pixels[p.name], 10, 0))
    assert len(groups) == 1 and len(groups[0].members) == 2
    assert {p.name for p in groups[0].members} != {"a.jpg", "c.jpg"}
    assert (2, 0) in asked or (0, 2) in asked  # the join was checked against the keeper
    assert stats.refused_keeper == 1 and stats.keeper_checks == 1


def test_similar_groups_are_capped_by_communities() -> None:
    from lookalike.dedupe.similar import similar_components

    # two dense clusters of 10 joined by one weak link: one component of 20, split at the weak link
    links = [(a, b, 0.9) for base in (0, 10) for a in range(base, base + 10) for b in range(a + 1, base + 10)]
    links.append((3, 14, 0.61))
    groups, split = similar_components(20, links, [1] * 20, cap=12)
    assert split == 1 and sorted(map(sorted, groups)) == [list(range(10)), list(range(10, 20))]
    again, _ = similar_components(20, links, [1] * 20, cap=12)
    assert again == groups  # seeded: the same split every run
    whole, split = similar_components(20, links, [1] * 20, cap=40)
    assert split == 0 and len(whole) == 1


def test_keeper_rules() -> None:
    a = FileFacts(Path("/p/a.jpg"), pixels=100, size=50, mtime_ns=3)
    b = FileFacts(Path("/p/sub/b.jpg"), pixels=400, size=20, mtime_ns=2)
    c = FileFacts(Path("/p/c.jpg"), pixels=400, size=30, mtime_ns=1)
    assert choose_keeper([a, b, c]) is c  # most pixels, then largest file
    assert choose_keeper([a, b, c], "largest") is a
    assert choose_keeper([a, b, c], "oldest") is c
    assert choose_keeper([a, b, c], "newest") is a
    assert choose_keeper([a, b, c], "in:/p/sub") is b
    with pytest.raises(LookalikeError, match="keeper rule"):
        choose_keeper([a], "smallest")


def _skimage_photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def test_verification_confirms_edited_copies_and_rejects_other_photos(tmp_path: Path) -> None:
    photo = _skimage_photo("astronaut")
    width, height = photo.size
    copy = photo.crop((40, 30, int(width * 0.75), int(height * 0.8))).resize((200, 220))  # 0.58x, same aspect
    paths = [tmp_path / "orig.jpg", tmp_path / "rot.jpg", tmp_path / "flip.jpg", tmp_path / "other.jpg"]
    photo.save(paths[0], quality=90)
    copy.rotate(90, expand=True).save(paths[1], quality=50)
    ImageOps.mirror(copy).save(paths[2], quality=50)
    _skimage_photo("coffee").save(paths[3], quality=90)
    report = Verifier(paths).verify(np.array([0, 0, 0, 1]), np.array([1, 2, 3, 3]))
    rotated, flipped, other, other2 = report.inliers.tolist()
    assert rotated >= 40 and flipped >= 40
    assert other < 20 and other2 < 20
    assert report.confirmed(VerifyOptions()).tolist() == [True, True, False, False]
    assert min(report.agreement[:2]) >= VerifyOptions().min_agreement  # the aligned pixels agree
    assert report.images == 4 and report.pairs == 4


def test_a_shared_caption_does_not_confirm_different_photos(tmp_path: Path) -> None:
    """Two different photos carrying the same date stamp match on the text's keypoints only: a thin
    band, so the pair is not confirmed, while the same stamp on an edited copy does not stop it."""
    from PIL import ImageDraw, ImageFont

    def stamped(picture: Image.Image) -> Image.Image:
        picture = picture.copy()
        font = ImageFont.load_default(size=picture.height // 8)
        ImageDraw.Draw(picture).text((20, picture.height // 2), "IMG_4821 24.11", fill=(255, 255, 255), font=font,
                                     stroke_width=2, stroke_fill=(0, 0, 0))
        return picture

    astronaut, coffee = _skimage_photo("astronaut"), _skimage_photo("coffee").resize((512, 512))
    paths = [tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "a_copy.jpg"]
    stamped(astronaut).save(paths[0], quality=90)
    stamped(coffee).save(paths[1], quality=90)
    stamped(astronaut.crop((60, 60, 420, 460)).resize((300, 333))).save(paths[2], quality=60)
    report = Verifier(paths).verify(np.array([0, 0]), np.array([1, 2]))
    different, copy = report.inliers.tolist()
    assert different < VerifyOptions().min_inliers <= copy


def test_cancel_stops_the_join_and_the_keypoint_checks_between_steps(tmp_path: Path) -> None:
    from lookalike.dedupe.run import join_edges
    from lookalike.errors import Cancelled

    vectors = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert len(join_edges(cancel=lambda: False)(vectors, -1.0, 5).i) > 0
    with pytest.raises(Cancelled):
        join_edges(cancel=lambda: True)(vectors, -1.0, 5)
    paths = [tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"]
    for path in paths:
        _skimage_photo("astronaut").save(path, quality=80)
    asked = itertools.count()  # next() is atomic: the three image loads ask first, then the pairs
    verifier = Verifier(paths)
    with pytest.raises(Cancelled):  # told to stop after the images are read: no pair is checked
        verifier.verify(np.array([0, 0]), np.array([1, 2]), cancel=lambda: next(asked) >= 3)
    assert next(asked) == 5 and all(verifier._cache.get(k) is not None for k in range(3))


def _tree(root: Path) -> dict[str, bytes]:
    return {os.fspath(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and ".lookalike" not in p.parts}


@pytest.mark.parametrize("action", ["move-to", "hardlink", "symlink"])
def test_actions_dry_run_apply_and_undo_byte_identical(tmp_path: Path, action: str) -> None:
    from lookalike.dedupe.groups import DuplicateGroup

    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    files = [root / "keep.jpg", root / "sub" / "dup1.jpg", root / "dup2.jpg"]
    for number, file in enumerate(files):
        file.write_bytes(bytes([number]) * (100 + number))
    before = _tree(root)
    stats_before = {f: f.stat().st_mtime_ns for f in files}
    group = DuplicateGroup(1, files, files[0], [])
    steps = actions.plan([group], action, root, destination=tmp_path / "moved", trash=root / ".lookalike" / "trash")
    assert [s.path for s in steps] == files[1:]
    assert _tree(root) == before and {f: f.stat().st_mtime_ns for f in files} == stats_before  # planning: no change
    log = tmp_path / "undo.jsonl"
    assert actions.apply(steps, log) == 2
    if action == "move-to":
        assert not files[1].exists()
        assert (tmp_path / "moved" / "sub" / "dup1.jpg").read_bytes() == before["sub/dup1.jpg"]
    else:
        assert files[1].read_bytes() == files[0].read_bytes()  # now a link to the keeper
        assert files[1].is_symlink() == (action == "symlink")
    assert actions.undo(log) == 2
    assert _tree(root) == before
    assert all(not f.is_symlink() for f in files)
    with pytest.raises(LookalikeError, match="no such undo log"):
        actions.undo(log)  # renamed to .undone: cannot run twice


def test_apply_refuses_a_plan_whose_target_exists(tmp_path: Path) -> None:
    from lookalike.dedupe.groups import DuplicateGroup

    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.jpg").write_bytes(b"other")
    steps = actions.plan([DuplicateGroup(1, [a, b], a, [])], "move-to", tmp_path, destination=tmp_path / "out")
    with pytest.raises(LookalikeError, match="already exists"):
        actions.apply(steps, tmp_path / "log.jsonl")
    assert b.read_bytes() == b"b" and not (tmp_path / "log.jsonl").exists()


def test_a_chosen_keeper_beats_the_rule_and_the_group_is_checked_against_it() -> None:
    """A person's choice (by content; among byte-identical copies, the very file) beats any rule; the
    latest choice wins; members join only when confirmed against that keeper."""
    from lookalike.dedupe.edges import Edges
    from lookalike.dedupe.keepers import Preferred

    a = FileFacts(Path("/p/a.jpg"), pixels=100, size=50, mtime_ns=3)
    b = FileFacts(Path("/p/sub/b.jpg"), pixels=400, size=20, mtime_ns=2)
    c = FileFacts(Path("/p/c.jpg"), pixels=400, size=30, mtime_ns=1)
    hashes = ["ha", "hb", "hb"]  # b and c: byte-identical copies
    chose_b = Preferred({"hb": (0, Path("/p/sub/b.jpg"))})
    assert choose_keeper([a, b, c], "largest", hashes, chose_b) is b  # the rule alone: a
    assert choose_keeper([a, b, c], "in:/p/sub", hashes, Preferred({"hb": (0, None)})) is b  # rule among copies
    later = Preferred({"hb": (0, Path("/p/c.jpg")), "ha": (1, Path("/p/a.jpg"))})
    assert choose_keeper([a, b, c], "best", hashes, later) is a  # the latest choice in the group
    assert choose_keeper([b, c], "best", ["hb", "hb"], Preferred({"hz": (0, None)})) is c  # none chosen here

    paths = [Path(f"/x/{name}.jpg") for name in "abc"]
    same_photo = {frozenset((0, 1)), frozenset((1, 2))}  # b~a, b~c; a and c are different photos

    def verify(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = np.array([frozenset((x, y)) in same_photo for x, y in zip(i.tolist(), j.tolist(), strict=True)])
        return found, np.where(found, 60, 0)

    edges = Edges(np.array([0, 1]), np.array([1, 2]), np.array([0.95, 0.9], np.float32))
    facts = {"a.jpg": 300, "b.jpg": 200, "c.jpg": 100}  # by the rule, a would be the keeper
    groups, _ = build_groups(paths, ["h0", "h1", "h2"], edges, Thresholds(0.6, 0.9), verify,
                             facts=lambda p: FileFacts(p, facts[p.name], 10, 0),
                             preferred=Preferred({"h1": (0, paths[1])}))
    assert [(g.keeper.name, sorted(p.name for p in g.members)) for g in groups] == [
        ("b.jpg", ["a.jpg", "b.jpg", "c.jpg"])]  # both are b's photo: checked against b, not a


def test_groups_found_so_far_grow_with_confirmed_pairs_and_never_cross_a_distinct_mark() -> None:
    from lookalike.dedupe.partial import PartialGroups

    paths = [Path(f"/x/{name}.jpg") for name in "abcde"]
    found = PartialGroups(paths, ["h0", "h0", "h2", "h3", "h4"], distinct={("h2", "h3")},
                          facts=lambda p: FileFacts(p, 100, 10, 0))
    assert found.phase == "exact" and [[p.name for p in g.members] for g in found.groups()] == [["a.jpg", "b.jpg"]]
    pairs = np.array([[1, 2], [2, 3], [3, 4], [0, 4]])
    found.confirm(pairs[:, 0], pairs[:, 1], np.array([True, True, True, False]), np.array([40, 40, 40, 2]),
                  np.array([0.9, 0.9, 0.8, 0.7], np.float32))
    shown = [([p.name for p in g.members], g.kinds) for g in found.groups()]
    assert found.phase == "near" and found.confirmed == 2 and found.count() == 2
    assert shown == [(["a.jpg", "b.jpg", "c.jpg"], ["exact", "near"]), (["d.jpg", "e.jpg"], ["near"])]
    assert [len(g.members) for g in found.groups(limit=1)] == [3]
