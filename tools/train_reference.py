"""Trains the ART notebook's RawAudioCNN in PyTorch on FSDD (../shared/data/fsdd): the reference model
that avfoil's predictions and attacks are compared against (tests/fixtures, docs/benchmarks.md).

FSDD's own split: indices 0-4 of every speaker and digit are test, 5-49 train. Clips are 8 kHz int16,
centre-padded or cropped to 8000 samples, in int16 scale (as the notebook's model takes them).

    ~/.cache/avfoil-art-venv/bin/python tools/train_reference.py --out target/reference-model
"""
import argparse
import glob
import os
import sys
import wave

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from raw_audio_cnn import RawAudioCNN  # noqa: E402

LEN = 8000


def load(path):
    with wave.open(path) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels())[:, 0]
    x = x.astype(np.float32)
    if len(x) >= LEN:
        start = (len(x) - LEN) // 2
        return x[start:start + LEN]
    left = (LEN - len(x)) // 2
    return np.pad(x, (left, LEN - len(x) - left))


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        return (torch.cat([model(x[i:i + 100]) for i in range(0, len(x), 100)]).argmax(1) == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd", "recordings"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    train, test = [], []
    for p in sorted(glob.glob(os.path.join(a.data, "*.wav"))):
        digit, _, index = os.path.basename(p)[:-4].split("_")
        (test if int(index) < 5 else train).append((load(p), int(digit)))
    xtr = torch.from_numpy(np.stack([x for x, _ in train]))[:, None, :]
    ytr = torch.tensor([y for _, y in train])
    xte = torch.from_numpy(np.stack([x for x, _ in test]))[:, None, :]
    yte = torch.tensor([y for _, y in test])
    model = RawAudioCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = a.epochs * ((len(xtr) + 31) // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps)
    for epoch in range(a.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        total, correct = 0.0, 0
        for i in range(0, len(order), 32):
            idx = order[i:i + 32]
            xb = xtr[idx].clone()
            shifts = rng.integers(-800, 801, len(idx))
            for j, s in enumerate(shifts):
                xb[j] = torch.roll(xb[j], int(s), dims=-1)
            out = model(xb)
            loss = nn.functional.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += (out.argmax(1) == ytr[idx]).sum().item()
        acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}: loss {total / len(xtr):.4f} train acc {correct / len(xtr):.3f} test acc {acc:.3f}", flush=True)
    # Running statistics drift with momentum 0.1 on int16-scale inputs; set them to the training
    # set's own statistics so that evaluation mode matches what the weights were trained with.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        for i in range(0, len(xtr), 100):
            model(xtr[i:i + 100])
    acc = evaluate(model, xte, yte)
    print(f"after batch-norm recalibration: test acc {acc:.3f}", flush=True)
    os.makedirs(a.out, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(a.out, "model.pt"))
    save_file({k: v for k, v in state.items() if v.dtype == torch.float32}, os.path.join(a.out, "model.safetensors"))
    print("saved", a.out, "test accuracy", acc)


if __name__ == "__main__":
    main()
