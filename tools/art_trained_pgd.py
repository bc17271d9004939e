"""The peer for the early-stopping benchmark: ART's PGD (L-inf, eps 64, eps_step 16, 40 iterations,
batch 16) on the PyTorch-trained reference model (tools/train_reference.py) over FSDD test clips.
Writes the clips as .npy for `cargo bench --bench pgd_audio -- MODEL_DIR CLIPS.npy` and prints one
JSON line with ART's time and success verdicts (prediction changed).

    ~/.cache/avfoil-art-venv/bin/python tools/art_trained_pgd.py target/reference-model target/fsdd-test32.npy
"""
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from raw_audio_cnn import RawAudioCNN  # noqa: E402
from train_reference import load  # noqa: E402

torch.set_num_threads(int(os.environ.get("THREADS", "2")))


def main(model_dir, clips_out, n=32):
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd", "recordings")
    paths = sorted(p for p in glob.glob(os.path.join(data, "*.wav")) if int(os.path.basename(p)[:-4].split("_")[2]) < 5)
    paths = paths[:: max(1, len(paths) // n)][:n]
    x = np.stack([load(p) for p in paths])[:, None, :].astype(np.float32)
    np.save(clips_out, x)
    model = RawAudioCNN()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pt")))
    model.eval()
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(1, 8000), nb_classes=10,
                            clip_values=(-2 ** 15, 2 ** 15 - 1))
    clean = clf.predict(x).argmax(1)
    pgd = ProjectedGradientDescent(clf, eps=64.0, eps_step=16.0, max_iter=40, batch_size=16, verbose=False)
    t0 = time.perf_counter()
    adv = pgd.generate(x)
    seconds = time.perf_counter() - t0
    flipped = clf.predict(adv).argmax(1) != clean
    print(json.dumps(dict(case="art_pgd40_eps64_trained", seconds=round(seconds, 4), items=n,
                          per_item_ms=round(1000 * seconds / n, 3), success=int(flipped.sum()),
                          verdicts=flipped.astype(int).tolist())))


if __name__ == "__main__":
    main(*sys.argv[1:3])
