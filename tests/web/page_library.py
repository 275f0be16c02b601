"""The library the page tests browse: the six sample photos, an edited copy of Dog_2 with a long name
in a folder, a cropped copy of Cat_1, and one tiny picture (smaller than any viewer)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

LONG_NAME = "second_dog_photo_resized_copy.jpg"
LONG_PATH = f"holidays/2019/{LONG_NAME}"
CAT_COPY = "Cat_1_cropped.jpg"
TINY = "tiny.png"
TINY_SIZE = (64, 48)
COUNT = 9


def make_page_library(shared_data: Path, folder: Path) -> Path:
    """Fill `folder` (created) with the COUNT pictures above; returns it."""
    from conftest import pattern_image

    folder.mkdir(parents=True)
    samples = shared_data / "samples" / "Images"
    for image in sorted(samples.glob("*.jpg")):
        shutil.copy(image, folder / image.name)
    (folder / LONG_PATH).parent.mkdir(parents=True)
    with Image.open(samples / "Dog_2.jpg") as dog:
        dog.convert("RGB").resize((int(dog.width * 0.6), int(dog.height * 0.6))).save(folder / LONG_PATH, quality=70)
    with Image.open(samples / "Cat_1.jpg") as cat:
        width, height = cat.size
        cat.convert("RGB").crop((width // 14, height // 14, width - width // 14, height - height // 14)).save(
            folder / CAT_COPY, quality=85)
    pattern_image(7, TINY_SIZE).save(folder / TINY)
    return folder
