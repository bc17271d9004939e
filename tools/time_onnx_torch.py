"""PyTorch's side of benches/onnx.rs: logits and the cross-entropy input gradient per batch for the
models tools/make_onnx_fixtures.py exports, eager PyTorch on 2 threads (this machine's cores),
batch 8, one warm-up then the median of 5 (or REPS), inputs uniform in [-1, 1]. Also exports RawAudioCNN
(tests/fixtures/raw_audio_cnn/model.pt) to /tmp/raw_audio_cnn.onnx for the native-versus-export
comparison, and times it.

    ~/.cache/avfoil-art-venv/bin/python tools/time_onnx_torch.py [BATCH [REPS]]
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from make_onnx_fixtures import MODELS  # noqa: E402
from raw_audio_cnn import RawAudioCNN  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


# Timed runs per case (after one warm-up), the median reported: `time_onnx_torch.py [N [REPS]]`,
# as `cargo bench --bench onnx -- N REPS`.
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def median_time(f, reps=None):
    reps = REPS if reps is None else reps
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def bench(name, model, shape, n, scale=1.0):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = (torch.rand((n, *shape)) * 2 - 1) * scale
    labels = torch.ones(n, dtype=torch.long)

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        nn.functional.cross_entropy(out, labels, reduction="sum").backward()

    for case, f in [("onnx_forward", forward), ("onnx_gradient", gradient)]:
        s = median_time(f)
        print(json.dumps({"case": case, "model": name, "peer": "pytorch", "seconds": round(s, 4),
                          "items": n, "per_item_ms": round(1e3 * s / n, 3)}))


def main():
    torch.set_num_threads(2)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    for name, make, shape in MODELS:
        torch.manual_seed(0)
        bench(name, make(), shape, n)
    raw = RawAudioCNN()
    state = torch.load(os.path.join(ROOT, "tests/fixtures/raw_audio_cnn/model.pt"))
    raw.load_state_dict(state)
    raw.eval()
    torch.onnx.export(raw, (torch.zeros(1, 1, 8000),), "/tmp/raw_audio_cnn.onnx",
                      input_names=["x"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    bench("raw-audio-cnn", raw, (1, 8000), n, scale=3000.0)
    silero(n)
    art_pgd_m5(n)


def art_pgd_m5(n):
    """ART's PGD (L-inf, 40 steps, eps 0.05, step 0.005, no random start) on the M5 fixture's
    PyTorch model wrapped in ART's PyTorchClassifier: the peer of PGD-40 on m5.onnx in avfoil."""
    import numpy as np
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier
    name, make, shape = next(m for m in MODELS if m[0] == "m5")
    torch.manual_seed(0)
    model = make().eval()
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=shape,
                            nb_classes=10, clip_values=(-1.0, 1.0))
    x = np.random.default_rng(0).uniform(-1, 1, (n, *shape)).astype(np.float32)
    attack = ProjectedGradientDescent(clf, eps=0.05, eps_step=0.005, max_iter=40,
                                      num_random_init=0, batch_size=n, verbose=False)
    s = median_time(lambda: attack.generate(x), reps=3)
    print(json.dumps({"case": "pgd40_m5", "peer": "art", "seconds": round(s, 4), "items": n,
                      "per_item_ms": round(1e3 * s / n, 3)}))


def silero(n):
    """The shipped Silero VAD in onnxruntime (forward only: onnxruntime has no input gradients),
    `n` one-second clips at 16 kHz, each one run of its 32 windows as avfoil's framing cuts them."""
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(
        os.path.join(ROOT, "models/silero-vad/silero_vad_16k_sequence.onnx"), options)
    zeros = np.zeros((1, 1, 128), dtype=np.float32)
    clips = np.random.default_rng(0).uniform(-1, 1, (n, 16000)).astype(np.float32)

    def windows(x):
        padded = np.zeros(64 + 32 * 512, dtype=np.float32)
        padded[64:64 + len(x)] = x
        return np.stack([padded[k * 512:k * 512 + 576] for k in range(32)])

    def forward():
        for clip in clips:
            session.run(["speech_probs"], {"input": windows(clip), "h": zeros, "c": zeros})

    s = median_time(forward)
    print(json.dumps({"case": "onnx_forward", "model": "silero-vad", "peer": "onnxruntime",
                      "seconds": round(s, 4), "items": n, "per_item_ms": round(1e3 * s / n, 3)}))


if __name__ == "__main__":
    main()
