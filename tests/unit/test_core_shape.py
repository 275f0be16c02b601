"""The shape of the core: errors cross process boundaries and `import lookalike` stays light (the
layers and seams are checked in test_architecture.py)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.errors import ERROR_CLASSES, ImageReadError, LookalikeError


@pytest.mark.parametrize("cls", ERROR_CLASSES)
def test_every_error_pickles_and_unpickles_equal(cls: type[LookalikeError]) -> None:
    if cls is ImageReadError:
        error: LookalikeError = ImageReadError("photos/a.jpg", "truncated", limit="max_pixels")
    else:
        error = cls("something went wrong", path="photos/x", expected="efficientnet-lite0")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls and copy == error and str(copy) == str(error)
    assert copy.details == error.details and copy.path == error.path and copy.reason == error.reason
    assert copy.record()["kind"] == cls.kind


def test_errors_have_structured_fields() -> None:
    error = ImageReadError("photos/a.jpg", "not an image (unrecognised format)")
    assert str(error) == "photos/a.jpg: not an image (unrecognised format)"
    assert (error.path, error.reason, error.kind) == ("photos/a.jpg", "not an image (unrecognised format)",
                                                     "image_read")
    assert error != ImageReadError("photos/b.jpg", error.reason)


def test_import_lookalike_loads_no_heavy_module() -> None:
    code = ("import sys, lookalike; lookalike.__all__; "
            "print(sorted(m for m in ('torch', 'timm', 'transformers', 'faiss') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["search", "--help"]])
def test_light_commands_import_no_model_library(argv: list[str]) -> None:
    code = ("import sys; from lookalike.cli import main; sys.argv = ['lookalike', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'timm', 'transformers') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_answers_from_stored_vectors_import_no_model_library(image_folder: Path, tiny_siglip_dir: Path,
                                                             tmp_path: Path) -> None:
    """status, export and a search for an image already in a (torch-model) library load no model code."""
    from lookalike.store import Library

    with Library.open(image_folder, model=str(tiny_siglip_dir), create=True, precision="fp32") as library:
        library.sync()
    query = str(image_folder / "a" / "img_0.jpg")
    code = ("import sys; from lookalike.cli import main; sys.argv = ['lookalike', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(sorted(m for m in ('torch', 'timm', 'transformers') if m in sys.modules), file=sys.stderr)")
    for argv in (["status", str(image_folder)], ["export", str(tmp_path / "out.parquet"), str(image_folder)],
                 ["search", query, "--library", str(image_folder / ".lookalike"), "-k", "2"]):
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr.strip().splitlines()[-1] == "[]", (argv, done.stderr)


def test_a_missing_optional_package_names_its_extra() -> None:
    from lookalike.extras import require

    assert require("json", "viz", "a map").dumps([]) == "[]"
    with pytest.raises(LookalikeError) as caught:
        require("no_such_package_for_lookalike.graph_objects", "viz", "an HTML map")
    assert str(caught.value) == "an HTML map needs no_such_package_for_lookalike: pip install 'lookalike[viz]'"
