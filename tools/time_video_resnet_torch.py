"""The PyTorch peer of benches/video_resnet.rs: torchvision's r3d_18 and r2plus1d_18 (400 classes,
random weights) on [BATCH, 3, 16, 112, 112] clips in [0, 1], Kinetics standardisation inside the
timed call, eval mode: logits under no_grad, and the summed cross-entropy's input gradient with the
logits. One warm-up, then the median of REPS; one JSON line per case, as the Rust benchmark.

    ~/.cache/avfoil-art-venv/bin/python tools/time_video_resnet_torch.py [BATCH [REPS [THREADS]]]
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from make_video_resnet_fixtures import MEAN, STD, R  # noqa: E402  (torchvision without Pillow)


def timed(reps, f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(n, 3, 16, 112, 112)
    labels = torch.arange(n) * 37 % 400
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1, 1)
    for name, make in (("r3d_18", R.r3d_18), ("r2plus1d_18", R.r2plus1d_18)):
        model = make(num_classes=400).eval()
        # Frozen, as avfoil's classifier: only the input gradient is computed.
        model.requires_grad_(False)

        def forward():
            with torch.no_grad():
                return model((x - mean) / std)

        def gradient():
            xt = x.clone().requires_grad_(True)
            logits = model((xt - mean) / std)
            loss = nn.functional.cross_entropy(logits, labels, reduction="sum")
            (g,) = torch.autograd.grad(loss, xt)
            return g, logits

        for case, f in (("forward", forward), ("input_gradient", gradient)):
            s = timed(reps, f)
            print(json.dumps({"case": f"{name}_{case}", "seconds": round(s, 4), "items": n,
                              "per_item_ms": round(1e3 * s / n, 3), "model": name, "device": "cpu",
                              "torch": torch.__version__, "threads": threads, "reps": reps}))


if __name__ == "__main__":
    main()
