"""Writes tests/fixtures/c3d_lite: avfoil's c3d-lite written in PyTorch (its twin: the same layers
under the same key names, so weights move between the two unchanged), with random weights and
non-trivial batch-norm statistics, and what PyTorch computes on a small clip batch (evaluation-mode
logits and the input gradient of the summed cross-entropy), for tests/c3d_lite_parity.rs.

Also a model trained in PyTorch with this twin loads in avfoil as `architecture = "c3d-lite"`.

Run with the anchor venv (../shared/bench/setup_venv.sh):
    ~/.cache/avfoil-art-venv/bin/python tools/make_c3d_lite_fixtures.py
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from fixture_weights import randomise

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "c3d_lite")
CLASSES = 4
# Odd frame count and sizes, so that the floor-mode pools and the H/W order matter:
# 9 frames -> 8 differences -> 8 -> 4 (time pool); 14 x 10 -> 7 x 5 -> 3 x 2.
CLIP = (2, 3, 9, 14, 10)
LABELS = (1, 3)


class C3dLite(nn.Module):
    """Frame differences, then three Conv3d+BatchNorm3d+ReLU blocks (16, 32, 64 channels) with max
    pools (1,2,2) and (2,2,2), a mean over time and space, and a linear layer: src/model/c3d_lite.rs."""

    def __init__(self, classes):
        super().__init__()
        block = lambda cin, cout: nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout))
        self.conv1, self.conv2, self.conv3 = block(3, 16), block(16, 32), block(32, 64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        if x.shape[2] > 1:
            x = x[:, :, 1:] - x[:, :, :-1]
        x = F.relu(self.conv1(x))
        if min(x.shape[3:]) >= 2:
            x = F.max_pool3d(x, (1, 2, 2))
        x = F.relu(self.conv2(x))
        if min(x.shape[3:]) >= 2:
            x = F.max_pool3d(x, (1, 2, 2))
        if x.shape[2] >= 2:
            x = F.max_pool3d(x, (2, 1, 1))
        x = F.relu(self.conv3(x))
        return self.fc(x.mean(dim=(2, 3, 4)))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(2026)
    x = torch.rand(*CLIP)
    labels = torch.tensor(LABELS)
    model = randomise(C3dLite(CLASSES), torch.rand(4, *CLIP[1:]))
    # num_batches_tracked (int64) stays in: real state dicts carry it.
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(OUT, "model.safetensors"))
    xt = x.clone().requires_grad_(True)
    logits = model(xt)
    loss = F.cross_entropy(logits, labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xt)
    np.save(os.path.join(OUT, "x.npy"), x.numpy())
    np.save(os.path.join(OUT, "labels.npy"), labels.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "logits.npy"), logits.detach().numpy())
    np.save(os.path.join(OUT, "grad.npy"), grad.numpy())
    print("logits", logits.detach().numpy().round(3).tolist())
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
