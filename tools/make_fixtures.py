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
from raw_audio_cnn import RawAudioCNN  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "raw_audio_cnn")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    rng = np.random.default_rng(1234)
    model = RawAudioCNN()
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
            if name == "conv1.0":
                m.weight.mul_(1.0 / 3000.0)  # int16-scale input: keep activations O(1)
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file({k: v for k, v in state.items() if v.dtype == torch.float32}, os.path.join(OUT, "model.safetensors"))
    torch.save(state, os.path.join(OUT, "model.pt"))

    n = 3
    t = np.arange(8000) / 8000.0
    x = np.stack([3000 * np.sin(2 * np.pi * (180 + 70 * i) * t) * np.exp(-((t - 0.5) ** 2) / 0.03) for i in range(n)])
    x = np.round(x + rng.normal(0, 80, x.shape)).astype(np.float32)[:, None, :]
    labels = np.array([3, 7, 1], dtype=np.int64)
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
