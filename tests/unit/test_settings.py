"""Settings precedence: defaults < user lookalike.toml < the folder's lookalike.toml < LOOKALIKE_* < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.errors import ConfigError
from lookalike.settings import Settings, load_settings
from lookalike.types import Source


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    home = tmp_path / "config"
    (home / "lookalike").mkdir(parents=True)
    return home


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_defaults_without_any_configuration(config_home: Path) -> None:
    settings = load_settings(environ={"XDG_CONFIG_HOME": str(config_home)})
    assert settings == Settings()
    assert settings.batch_size is None and settings.model is None  # the model's own batch size, default model


@pytest.mark.parametrize(("key", "file_value", "env", "env_value", "flag_value", "expected"), [
    ("model", '"histogram"', "LOOKALIKE_MODEL", "phash", "efficientnet-lite0",
     ("histogram", "phash", "efficientnet-lite0")),
    ("batch_size", "8", "LOOKALIKE_BATCH_SIZE", "16", 64, (8, 16, 64)),
    ("max_megapixels", "12.5", "LOOKALIKE_MAX_MEGAPIXELS", "30", 0.5, (12.5, 30.0, 0.5)),
    ("device", '"cpu"', "LOOKALIKE_DEVICE", "cuda:1", "auto", ("cpu", "cuda:1", "auto")),
    ("recall", "0.95", "LOOKALIKE_RECALL", "0.999", 1.0, (0.95, 0.999, 1.0)),
    ("job_idle_seconds", "10", "LOOKALIKE_JOB_IDLE_SECONDS", "2.5", 60, (10.0, 2.5, 60)),
    ("backend", '"onnx"', "LOOKALIKE_BACKEND", "torch", "auto", ("onnx", "torch", "auto")),
])
def test_file_then_environment_then_flag(config_home: Path, tmp_path: Path, key: str, file_value: str, env: str,
                                         env_value: str, flag_value: object, expected: tuple[object, ...]) -> None:
    folder = tmp_path / "photos"
    _write(folder / "lookalike.toml", f"{key} = {file_value}\n")
    base = {"XDG_CONFIG_HOME": str(config_home)}
    assert getattr(load_settings(folder, environ=base), key) == expected[0]
    assert getattr(load_settings(folder, environ={**base, env: env_value}), key) == expected[1]
    flagged = load_settings(folder, environ={**base, env: env_value}, **{key: flag_value})
    assert getattr(flagged, key) == expected[2]


def test_folder_file_beats_user_file_and_none_flags_are_ignored(config_home: Path, tmp_path: Path) -> None:
    _write(config_home / "lookalike" / "lookalike.toml", 'precision = "bf16"\nworkers = 3\nhome = "~/libs"\n')
    folder = tmp_path / "photos"
    _write(folder / "lookalike.toml", "workers = 1\n")
    settings = load_settings(folder, environ={"XDG_CONFIG_HOME": str(config_home)}, workers=None, precision=None)
    assert (settings.precision, settings.workers) == ("bf16", 1)
    assert settings.home == Path("~/libs").expanduser()


@pytest.mark.parametrize(("environ", "message"), [
    ({"LOOKALIKE_BATCH_SIZE": "lots"}, "LOOKALIKE_BATCH_SIZE: batch_size = 'lots' is not an integer >= 1"),
    ({"LOOKALIKE_DEVICE": "banana"}, "LOOKALIKE_DEVICE: device = 'banana' is not auto, cpu, cuda or cuda:N"),
    ({"LOOKALIKE_MAX_MEGAPIXELS": "nan"}, "LOOKALIKE_MAX_MEGAPIXELS: max_megapixels = 'nan' is not a number > 0"),
    ({"LOOKALIKE_RECALL": "1.5"}, "LOOKALIKE_RECALL: recall = '1.5' is not a number from 0 to 1"),
    ({"LOOKALIKE_JOB_IDLE_SECONDS": "0"}, "LOOKALIKE_JOB_IDLE_SECONDS: job_idle_seconds = '0' is not a number > 0"),
])
def test_bad_values_name_their_source(config_home: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"XDG_CONFIG_HOME": str(config_home), **environ})
    assert str(caught.value) == message


def test_a_broken_settings_file_is_one_line(config_home: Path) -> None:
    _write(config_home / "lookalike" / "lookalike.toml", "model = \n")
    with pytest.raises(ConfigError, match="not a readable settings file") as caught:
        load_settings(environ={"XDG_CONFIG_HOME": str(config_home)})
    assert "\n" not in str(caught.value)
    _write(config_home / "lookalike" / "lookalike.toml", "colour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(environ={"XDG_CONFIG_HOME": str(config_home)})


def test_unset_batch_size_keeps_the_models_own(config_home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The classical embedders batch 256 images; a run without --batch-size must not cut that to 32."""
    from conftest import pattern_image

    from lookalike.embedders.classical import HistogramEmbedder
    from lookalike.service import Lookalike

    folder = tmp_path / "many"
    folder.mkdir()
    for seed in range(40):
        pattern_image(seed).save(folder / f"img_{seed:02d}.png")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    batches: list[int] = []
    original = HistogramEmbedder._embed_prepared

    def spy(self: HistogramEmbedder, items):  # type: ignore[no-untyped-def]
        batches.append(len(items))
        return original(self, items)

    monkeypatch.setattr(HistogramEmbedder, "_embed_prepared", spy)
    with Lookalike(load_settings(folder)) as service:
        service.pairs(Source(folder, model="histogram"), top=1)
    assert batches == [40]  # one batch: the model's own size (256), not 32
    batches.clear()
    with Lookalike(load_settings(folder, batch_size=16)) as flagged:
        flagged.pairs(Source(folder, model="histogram"), top=1)
    assert batches == [16, 16, 8]
