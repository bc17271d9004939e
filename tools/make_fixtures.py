"""Writes tests/fixtures/raw_audio_cnn: a RawAudioCNN with random weights and non-trivial batch-norm
statistics (as .safetensors and as a PyTorch .pt state dict), a small int16-scale batch, and what
PyTorch and ART compute on it (logits, input gradients, FGM and PGD adversarial examples).

Run with the anchor venv (../shared/bench/setup_venv.sh):
    ~/.cache/avfoil-art-venv/bin/python tools/make_fixtures.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from fixture_weights import randomise  # noqa: E402
from raw_audio_cnn import RawAudioCNN  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "raw_audio_cnn")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    rng = np.random.default_rng(1234)
    model = RawAudioCNN()
    # Calibrate the batch-norm statistics on int16-scale signals (as training would), so the input
    # actually reaches the logits; then move them off the calibration values so that they matter.
    calibration = torch.from_numpy(rng.normal(0, 1500, (32, 1, 8000)).astype(np.float32))
    model = randomise(model, calibration, fc_bias=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file({k: v for k, v in state.items() if v.dtype == torch.float32}, os.path.join(OUT, "model.safetensors"))
    torch.save(state, os.path.join(OUT, "model.pt"))

    # Max-pool gradients jump where two window entries are nearly tied: a rounding difference in any
    # f32 implementation then routes the gradient to the other entry. Keep only examples whose f32
    # gradient equals the float64 one (no window within f32 noise of a tie), so the fixture tests the
    # implementation, not the luck of the rounding.
    double = RawAudioCNN().double().eval()
    double.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state.items()})
    n, t = 3, np.arange(8000) / 8000.0
    labels = np.array([3, 7, 1], dtype=np.int64)
    chosen = []
    for i in range(200):
        if len(chosen) == n:
            break
        xi = 3000 * np.sin(2 * np.pi * (180 + 70 * i) * t) * np.exp(-((t - 0.5) ** 2) / 0.03)
        xi = np.round(xi + rng.normal(0, 80, xi.shape)).astype(np.float32)[None, None, :]
        y = torch.from_numpy(labels[len(chosen):len(chosen) + 1])
        grads = []
        for m, dt in ((model, torch.float32), (double, torch.float64)):
            xt = torch.from_numpy(xi).to(dt).requires_grad_(True)
            (g,) = torch.autograd.grad(nn.functional.cross_entropy(m(xt), y, reduction="sum"), xt)
            grads.append(g.double().numpy())
        err = np.abs(grads[0] - grads[1]).max() / np.abs(grads[1]).max()
        if err <= 1e-6:
            chosen.append(xi[0])
    assert len(chosen) == n, "not enough tie-free examples"
    x = np.stack(chosen)
    np.save(os.path.join(OUT, "x.npy"), x)
    np.save(os.path.join(OUT, "labels.npy"), labels.astype(np.float32))

    xt = torch.from_numpy(x).requires_grad_(True)
    logits = model(xt)
    loss = nn.functional.cross_entropy(logits, torch.from_numpy(labels), reduction="sum")
    (grad,) = torch.autograd.grad(loss, xt)
    np.save(os.path.join(OUT, "logits.npy"), logits.detach().numpy())
    np.save(os.path.join(OUT, "grad.npy"), grad.numpy())
    xt2 = torch.from_numpy(x).requires_grad_(True)
    (cgrad,) = torch.autograd.grad(model(xt2)[torch.arange(n), torch.from_numpy(labels)].sum(), xt2)
    np.save(os.path.join(OUT, "class_grad.npy"), cgrad.numpy())

    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(1, 8000), nb_classes=10,
                            clip_values=(-2 ** 15, 2 ** 15 - 1))
    fgm = FastGradientMethod(clf, eps=0.5, batch_size=n)
    np.save(os.path.join(OUT, "art_fgm_eps0.5.npy"), fgm.generate(x, y=np.eye(10)[labels]))
    pgd = ProjectedGradientDescent(clf, eps=0.5, eps_step=0.1, max_iter=10, batch_size=n, verbose=False)
    np.save(os.path.join(OUT, "art_pgd_eps0.5_step0.1_iter10.npy"), pgd.generate(x, y=np.eye(10)[labels]))
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
