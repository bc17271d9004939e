"""Defences on arrays, media files, evaluation, and the two example notebooks."""

import importlib.util
import os

import numpy as np
import pytest

import avfoil
from avfoil.defences import Mp3Compression, Preprocessor, VideoCompression
from avfoil.io import read_video, read_wav, write_gif, write_wav


def test_mp3_takes_arts_layouts_and_keeps_shape_and_dtype(digits):
    mp3 = Mp3Compression(sample_rate=8000, channels_first=True)
    x = digits[:2]
    first, y = mp3(x, y="labels")
    assert y == "labels" and first.shape == x.shape and first.dtype == np.float32
    np.testing.assert_array_equal(x, digits[:2])
    last, _ = Mp3Compression(sample_rate=8000)(np.swapaxes(x, 1, 2))
    np.testing.assert_array_equal(np.swapaxes(last, 1, 2), first)
    mono, _ = mp3(x[:, 0, :])
    np.testing.assert_array_equal(mono, first[:, 0, :])
    as_int16, _ = mp3(x.astype(np.int16))
    assert as_int16.dtype == np.int16
    # Full-scale floats are detected per example and come back at full scale.
    unit, _ = mp3(x / 32768.0)
    assert np.abs(unit).max() <= 1.0
    np.testing.assert_allclose(unit * 32768.0, first, atol=2.0)
    with pytest.raises(ValueError, match="MP3 encodes"):
        Mp3Compression(sample_rate=12345)


def test_video_compression_scales_as_art_and_never_in_place(video_classifier, repo):
    x = video_classifier.load_input(os.path.join(repo, "examples", "v_Basketball_g02_c01.mp4"))[None]
    h264 = VideoCompression(video_format="avi", constant_rate_factor=30, channels_first=True)
    unit, _ = h264(x)
    assert unit.shape == x.shape and 0 <= unit.min() and unit.max() <= 1
    assert 0 < np.abs(unit - x).mean() < 0.05
    kept = x.copy()
    byte, _ = h264(x * 255)
    np.testing.assert_array_equal(x, kept)
    np.testing.assert_allclose(byte / 255, unit, atol=1e-5)
    last, _ = VideoCompression(video_format="mp4", constant_rate_factor=30)(
        np.transpose(x, (0, 2, 3, 4, 1))
    )
    np.testing.assert_allclose(np.transpose(last, (0, 4, 1, 2, 3)), unit, atol=1e-6)
    with pytest.raises(ValueError, match="Constant rate factor"):
        VideoCompression(video_format="mp4", constant_rate_factor=60)
    with pytest.raises(ValueError, match="spatio-temporal"):
        h264(x[0])


def test_rooms_are_randomised_seeded_and_attackable(audio_classifier, digits):
    from avfoil.attacks import ProjectedGradientDescent
    from avfoil.defences import RoomSimulation

    room = RoomSimulation(max_shift=0)
    defended = audio_classifier.with_defences([room], seed=4)
    adv = ProjectedGradientDescent(defended, eps=64.0, eps_step=16.0, max_iter=3, eot=2, seed=4).generate(digits[:1])
    again = ProjectedGradientDescent(
        audio_classifier.with_defences([room], seed=4), eps=64.0, eps_step=16.0, max_iter=3, eot=2, seed=4
    ).generate(digits[:1])
    np.testing.assert_array_equal(adv, again)
    assert np.abs(adv - digits[:1]).max() <= 64.0 + 1e-3


def test_any_registered_defence_by_name(digits):
    lowpass = Preprocessor("lowpass", sample_rate=8000, cutoff=1000)
    out, _ = lowpass(digits[:1])
    assert out.shape == (1, 1, 8000) and not np.array_equal(out, digits[:1])
    with pytest.raises(ValueError, match="unknown defence"):
        Preprocessor("no-such-defence")(digits[:1])
    names = {d["name"] for d in avfoil.catalog()["defences"]}
    assert {"mp3", "h264", "lowpass", "gaussian-noise"} <= names


def test_wav_round_trip_and_video_reading(tmp_path, digits, repo):
    samples = digits[0, 0] / 32768.0
    path = tmp_path / "d.wav"
    write_wav(path, samples, 8000)
    back, rate = read_wav(path)
    assert rate == 8000 and back.shape == (8000, 1)
    np.testing.assert_array_equal(back[:, 0], samples.astype(np.float32))
    frames, fps = read_video(os.path.join(repo, "examples", "v_Basketball_g02_c01.mp4"))
    assert frames.shape == (48, 240, 320, 3) and frames.dtype == np.uint8 and fps == 25
    write_gif(tmp_path / "f.gif", frames[:4], channels_first=False)
    again, _ = read_video(tmp_path / "f.gif")
    assert again.shape == (4, 240, 320, 3)
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(tmp_path / "bad.wav", samples, 10)
    assert not (tmp_path / "bad.wav").exists()


def test_evaluate_returns_the_summary(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        """name = "tiny-video"
batch_size = 5

[model]
path = "actions"

[dataset]
loader = "actions"
groups = 4
clips = 1
frames = 32
size = [80, 60]

[[attack]]
name = "fgm"
eps = [0.0314]
"""
    )
    summary = avfoil.evaluate(scenario, tmp_path / "run")
    assert summary["examples"] == 10 and summary["modality"] == "video"
    assert (tmp_path / "run" / "report.html").is_file()
    with pytest.raises(ValueError):
        avfoil.evaluate(scenario, tmp_path / "run")  # the folder holds a run already


def load_example(repo, name):
    path = os.path.join(repo, "examples", "python", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_audio_notebook_runs(repo, tmp_path, capsys):
    rows = load_example(repo, "audio_notebook").main(str(tmp_path))
    printed = capsys.readouterr().out
    assert "PGD through MP3" in printed
    assert [r[2] for r in rows] == [1, 3, 5, 8]  # clean predictions
    assert all(r[3] != r[1] for r in rows)  # PGD flips every digit
    assert all(r[6] != r[1] for r in rows)  # and flips them again through MP3
    assert (tmp_path / "8_nicolas_0.pgd-mp3.wav").is_file()


def test_the_video_notebook_runs(repo, tmp_path, capsys):
    rows, frames = load_example(repo, "video_notebook").main(str(tmp_path))
    printed = capsys.readouterr().out
    assert rows[0][1].startswith("Basketball")
    assert not rows[1][1].startswith("Basketball")  # FGM fools it
    assert frames >= 1
    assert (tmp_path / "frame-saliency.gif").is_file()
    assert "H.264" in printed
