"""The edited-copy set that duplicate thresholds are calibrated and tested on: one photo per object
of a labelled folder, plus a seeded edited copy of each (crop, resize, brightness/contrast, half of
them mirrored, JPEG re-encoding). The "hard" variant adds 90/180/270 rotations, deeper crops and a
text overlay. Distinct objects are the negatives: a group holding two objects is a mistake."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from ..errors import LookalikeError


@dataclass(frozen=True)
class EditedSet:
    """The written files and the object each one shows (originals first, then their copies)."""

    paths: list[Path]
    objects: list[int]


def one_photo_per_object(labels_csv: Path, objects: int, skip: int = 0) -> list[tuple[Path, int]]:
    """The first photo of each of `objects` groups of a `path,group` CSV, after the first `skip` groups
    (so a calibration set and a test set can hold different objects)."""
    if not labels_csv.is_file():
        raise LookalikeError(f"{labels_csv}: no such labels file")
    chosen: dict[int, Path] = {}
    with labels_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            group = int(row["group"])
            if group not in chosen and len(chosen) < objects + skip:
                chosen[group] = labels_csv.parent / row["path"]
    return [(path, group) for group, path in list(chosen.items())[skip:]]


def _crop(image: Image.Image, rng: np.random.Generator, low: float, high: float) -> Image.Image:
    fraction = rng.uniform(low, high)
    width, height = image.size
    cw, ch = max(8, int(width * fraction)), max(8, int(height * fraction))
    left = int(rng.integers(0, width - cw + 1))
    top = int(rng.integers(0, height - ch + 1))
    return image.crop((left, top, left + cw, top + ch))


def _overlay_text(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    drawn = image.copy()
    draw = ImageDraw.Draw(drawn)
    size = max(12, image.height // 8)
    try:
        from PIL import ImageFont

        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=size)
    except (TypeError, OSError):  # very old Pillow: fixed-size bitmap font
        font = ImageFont.load_default()
    y = int(rng.integers(0, max(1, image.height - size * 2)))
    caption = f"IMG_{int(rng.integers(1000, 9999))} {int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}"
    draw.text((image.width // 20, y), caption, fill=(255, 255, 255), font=font,
              stroke_width=2, stroke_fill=(0, 0, 0))
    return drawn


def edit(image: Image.Image, rng: np.random.Generator, hard: bool = False, mirror: bool = False) -> bytes:
    """One edited copy as JPEG bytes: crop 75-90% (55-70% when hard), resize to 60%, brightness and
    contrast changed, mirrored when asked, rotated 90/180/270 and captioned when hard, re-encoded at
    JPEG quality 35-70. Each caption differs: a watermark shared by different photos is a harder case
    that the geometric check does not claim to handle."""
    picture = _crop(image, rng, 0.55, 0.70) if hard else _crop(image, rng, 0.75, 0.90)
    picture = picture.resize((max(8, int(picture.width * 0.6)), max(8, int(picture.height * 0.6))),
                             Image.Resampling.BICUBIC)
    picture = ImageEnhance.Brightness(picture).enhance(rng.uniform(0.75, 1.25))
    picture = ImageEnhance.Contrast(picture).enhance(rng.uniform(0.75, 1.25))
    if mirror:
        picture = ImageOps.mirror(picture)
    if hard:
        picture = picture.rotate(int(rng.choice([90, 180, 270])), expand=True)
        picture = _overlay_text(picture, rng)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=int(rng.integers(35, 71)))
    return buffer.getvalue()


def build_edited_set(labels_csv: Path, out: Path, objects: int = 60, seed: int = 0, hard: bool = False,
                     skip: int = 0) -> EditedSet:
    """Write `objects` originals (after the first `skip` objects) and one edited copy of each under
    `out`; seeded, so every run writes the same bytes."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    labels: list[int] = []
    chosen = one_photo_per_object(labels_csv, objects, skip)
    copies: list[tuple[Path, int]] = []
    for number, (source, group) in enumerate(chosen):
        with Image.open(source) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        original = out / f"obj{group:04d}_orig.jpg"
        original.write_bytes(source.read_bytes())
        paths.append(original)
        labels.append(group)
        copy = out / f"obj{group:04d}_copy.jpg"
        copy.write_bytes(edit(image, rng, hard=hard, mirror=number % 2 == 1))
        copies.append((copy, group))
    for copy, group in copies:
        paths.append(copy)
        labels.append(group)
    return EditedSet(paths, labels)


@dataclass(frozen=True)
class SetScore:
    """How duplicate groups fare on an edited-copy set."""

    found: int
    copies: int
    groups: int
    mixed: int

    @property
    def recall(self) -> float:
        return self.found / max(self.copies, 1)

    @property
    def mixed_share(self) -> float:
        return self.mixed / max(self.groups, 1)


def score_groups(groups: list[list[Path]], edited: EditedSet) -> SetScore:
    """Copies grouped with their original, and groups holding more than one object."""
    label = {path.resolve(): obj for path, obj in zip(edited.paths, edited.objects, strict=True)}
    group_of = {path.resolve(): number for number, members in enumerate(groups) for path in members}
    originals = {obj: path.resolve() for path, obj in zip(edited.paths, edited.objects, strict=True)
                 if path.name.endswith("_orig.jpg")}
    copies = [(path.resolve(), obj) for path, obj in zip(edited.paths, edited.objects, strict=True)
              if path.name.endswith("_copy.jpg")]
    found = sum(1 for path, obj in copies
                if path in group_of and group_of[path] == group_of.get(originals[obj], -1))
    mixed = sum(1 for members in groups if len({label[p.resolve()] for p in members}) > 1)
    return SetScore(found, len(copies), len(groups), mixed)
