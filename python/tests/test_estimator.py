"""The estimator: ART's interface, dtypes and shapes, errors."""

import os

import numpy as np
import pytest

import avfoil
from avfoil.defences import Mp3Compression


def test_shipped_model_describes_itself(audio_classifier):
    c = audio_classifier
    assert c.nb_classes == 10
    assert c.input_shape == (1, 8000)
    assert c.clip_values == (-32768.0, 32767.0)
    assert c.sample_rate == 8000 and c.modality == "audio"
    assert c.class_names == [str(d) for d in range(10)]


def test_predict_gives_logits_that_know_the_digits(audio_classifier, digits):
    logits = audio_classifier.predict(digits)
    assert logits.shape == (4, 10) and logits.dtype == np.float32
    assert list(np.argmax(logits, axis=1)) == [1, 3, 5, 8]


def test_float64_and_int16_inputs_give_the_float32_answer(audio_classifier, digits):
    expected = audio_classifier.predict(digits)
    np.testing.assert_array_equal(audio_classifier.predict(digits.astype(np.float64)), expected)
    np.testing.assert_array_equal(audio_classifier.predict(digits.astype(np.int16)), expected)
    # A non-contiguous view is read correctly too.
    doubled = np.repeat(digits, 2, axis=0)[::2]
    np.testing.assert_array_equal(audio_classifier.predict(doubled), expected)


def test_batch_size_does_not_change_predictions(audio_classifier, digits):
    a = audio_classifier.predict(digits, batch_size=1)
    b = audio_classifier.predict(digits, batch_size=4)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_loss_gradient_is_the_chain_rule_of_the_class_gradients(audio_classifier, digits):
    x = digits[:2]
    y = np.array([1, 3])
    g = audio_classifier.loss_gradient(x, y)
    assert g.shape == x.shape
    logits = audio_classifier.predict(x)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    per_class = audio_classifier.class_gradient(x)  # (N, K, 1, 8000)
    assert per_class.shape == (2, 10, 1, 8000)
    onehot = np.eye(10)[y]
    expected = np.einsum("nk,nk...->n...", p - onehot, per_class)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(g, expected, atol=1e-3 * scale)
    # One-hot labels are the same labels.
    np.testing.assert_array_equal(audio_classifier.loss_gradient(x, onehot), g)


def test_class_gradient_shapes_follow_art(audio_classifier, digits):
    x = digits[:3]
    assert audio_classifier.class_gradient(x, label=4).shape == (3, 1, 1, 8000)
    picked = audio_classifier.class_gradient(x, label=[1, 2, 3])
    assert picked.shape == (3, 1, 1, 8000)
    every = audio_classifier.class_gradient(x)
    np.testing.assert_allclose(picked[:, 0], every[[0, 1, 2], [1, 2, 3]], rtol=1e-5, atol=1e-6)


def test_bad_inputs_raise_clear_python_exceptions(audio_classifier, digits):
    with pytest.raises(ValueError, match=r"invalid x: expected a batch of examples of shape \[1, 8000\]"):
        audio_classifier.predict(digits[:, :, :4000])
    with pytest.raises(ValueError, match="not finite|finite"):
        bad = digits[:1].copy()
        bad[0, 0, 10] = np.nan
        audio_classifier.predict(bad)
    with pytest.raises(ValueError, match=r"lies outside the model's input range \[-32768, 32767\]"):
        audio_classifier.predict(digits[:1] * 100)
    with pytest.raises(ValueError, match="holds no examples"):
        audio_classifier.predict(np.zeros((0, 1, 8000), np.float32))
    with pytest.raises(ValueError, match="label 12 is out of range for 10 classes"):
        audio_classifier.loss_gradient(digits[:1], [12])
    with pytest.raises(ValueError, match="expected 2 class indices"):
        audio_classifier.loss_gradient(digits[:2], [1])
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        avfoil.Classifier.from_model_dir("no-such-dir")
    with pytest.raises(ValueError, match="neither a model directory"):
        avfoil.Classifier.shipped("no-such-model")
    with pytest.raises(ValueError, match="set for 16000 Hz, the model takes 8000 Hz"):
        audio_classifier.with_defences([Mp3Compression(sample_rate=16000)])
    with pytest.raises(TypeError, match="unexpected keyword"):
        audio_classifier.predict(digits, training_mode=True)


def test_a_defended_classifier_predicts_on_the_defended_input(audio_classifier, digits):
    mp3 = Mp3Compression(sample_rate=8000, channels_first=True)
    defended = audio_classifier.with_defences([mp3])
    assert "mp3" in repr(defended)
    np.testing.assert_allclose(
        defended.predict(digits),
        audio_classifier.predict(mp3(digits)[0]),
        rtol=1e-5,
        atol=1e-4,
    )


def test_load_input_reads_media_as_the_cli_does(video_classifier, repo):
    x = video_classifier.load_input(os.path.join(repo, "examples", "v_Basketball_g02_c01.mp4"))
    assert x.shape == video_classifier.input_shape and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    top = int(np.argmax(video_classifier.predict(x[None])))
    assert video_classifier.class_names[top] == "Basketball"


def test_an_onnx_graph_matches_pytorch_through_the_art_api(repo):
    """tests/fixtures/onnx (tools/make_onnx_fixtures.py): PyTorch's logits, gradient of the summed
    cross-entropy at labels [3, 1], FGM (eps 0.05) and PGD (eps 0.1, step 0.02, 10 steps)."""
    from avfoil.attacks import FastGradientMethod, ProjectedGradientDescent

    fixtures = os.path.join(repo, "tests", "fixtures", "onnx")
    load = lambda suffix: np.load(os.path.join(fixtures, f"cnn1d.{suffix}.npy"))
    c = avfoil.Classifier.from_onnx(os.path.join(fixtures, "cnn1d.onnx"))
    x, y = load("x"), np.array([3, 1])
    assert c.clip_values is None and c.input_shape == x.shape[1:]
    np.testing.assert_allclose(c.predict(x), load("logits"), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c.loss_gradient(x, y), load("grad"), rtol=1e-3, atol=1e-6)
    fgm = FastGradientMethod(c, eps=0.05).generate(x, y)
    assert np.mean(np.abs(fgm - load("fgm")) <= 1e-5) >= 0.999
    pgd = ProjectedGradientDescent(c, eps=0.1, eps_step=0.02, max_iter=10).generate(x, y)
    assert np.mean(np.abs(pgd - load("pgd")) <= 1e-4) >= 0.995
    bounded = avfoil.Classifier.from_onnx(os.path.join(fixtures, "cnn1d.onnx"), clip_values=(-1, 1))
    assert bounded.clip_values == (-1.0, 1.0)
    with pytest.raises(ValueError, match="clip_values"):
        avfoil.Classifier.from_onnx(os.path.join(fixtures, "cnn1d.onnx"), clip_values=(1.0, -1.0))
    with pytest.raises(ValueError, match="3 inputs"):
        avfoil.Classifier.from_onnx(os.path.join(repo, "models", "silero-vad", "silero_vad_16k_sequence.onnx"))
    with pytest.raises(FileNotFoundError):
        avfoil.Classifier.from_onnx(os.path.join(repo, "missing.onnx"))


def test_from_torch_exports_and_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 48, 3),
    )
    x = np.random.default_rng(0).standard_normal((2, 1, 100)).astype(np.float32)
    c = avfoil.Classifier.from_torch(module, x[:1], path=str(tmp_path / "m.onnx"),
                                     clip_values=(-5.0, 5.0))
    expected = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(c.predict(x), expected, rtol=1e-4, atol=1e-5)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.cross_entropy(module(xt), torch.tensor([0, 2]), reduction="sum").backward()
    np.testing.assert_allclose(c.loss_gradient(x, [0, 2]), xt.grad.numpy(), rtol=1e-3, atol=1e-5)
