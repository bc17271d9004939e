"""ART 1.20's robust accuracies on the shipped spoken-digits RawAudioCNN (PyTorch, loaded from
models/spoken-digits/model.safetensors) over twelve real FSDD test recordings, for
tests/robust_accuracy_vs_art.rs: avfoil's attacks at the same budgets must leave no more examples
correctly classified than ART's (one example of slack).

    ~/.cache/avfoil-art-venv/bin/python tools/art_robust_accuracy.py tests/fixtures/art_robust

Writes x.npy (int16, [12, 1, 8000]) and art.json (the true digits, ART's settings, robust accuracy
and per-example verdicts for APGD-CE, APGD-DLR, Square and AutoAttack).
ART's SquareAttack takes only 4-D image batches, so it attacks the waveform folded into an 80 x 100
"image" that the model unfolds (p_init 0.5: at 0.8 ART's tile outgrows the fold and it crashes);
its AutoAttack therefore runs APGD-CE, APGD-DLR and DeepFool, ART's default list less Square.
"""
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from raw_audio_cnn import RawAudioCNN  # noqa: E402
from train_reference import load  # noqa: E402

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
ROOT = os.path.join(os.path.dirname(__file__), "..")
EPS = 12.0
N = 12


def main(out):
    import art
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, DeepFool, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    np.random.seed(0)
    torch.manual_seed(0)
    data = os.path.join(ROOT, "..", "shared", "data", "fsdd", "recordings")
    paths = sorted(p for p in glob.glob(os.path.join(data, "*.wav")) if int(os.path.basename(p)[:-4].split("_")[2]) < 5)
    paths = paths[7:: len(paths) // N][:N]
    x16 = np.stack([load(p) for p in paths])[:, None, :].astype(np.int16)
    labels = np.array([int(os.path.basename(p)[0]) for p in paths], dtype=np.int64)
    x = x16.astype(np.float32)
    model = RawAudioCNN()
    model.load_state_dict(load_file(os.path.join(ROOT, "models", "spoken-digits", "model.safetensors")))
    model.eval()
    clip = (-2.0 ** 15, 2.0 ** 15 - 1)
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(1, 8000), nb_classes=10,
                            clip_values=clip)
    y = np.eye(10, dtype=np.float32)[labels]

    def apgd(loss):
        return AutoProjectedGradientDescent(clf, norm=np.inf, eps=EPS, eps_step=2 * EPS, max_iter=100,
                                            nb_random_init=1, batch_size=N, loss_type=loss, verbose=False)

    results = {}

    def record(name, settings, adv, predict=clf.predict):
        correct = predict(adv).argmax(1) == labels
        results[name] = dict(settings=settings, robust=int(correct.sum()), correct=correct.astype(int).tolist())
        print(name, int(correct.sum()), "of", N, flush=True)

    clean = clf.predict(x).argmax(1) == labels
    results["clean"] = dict(settings={}, robust=int(clean.sum()), correct=clean.astype(int).tolist())
    print("clean", int(clean.sum()), "of", N, flush=True)
    for name, loss in (("apgd-ce", "cross_entropy"), ("apgd-dlr", "difference_logits_ratio")):
        record(name, dict(eps=EPS, eps_step=2 * EPS, max_iter=100, nb_random_init=1, loss_type=loss),
               apgd(loss).generate(x, y=y))
    folded = nn.Sequential(nn.Flatten(2), model).eval()
    fclf = PyTorchClassifier(model=folded, loss=nn.CrossEntropyLoss(), input_shape=(1, 80, 100), nb_classes=10,
                             clip_values=clip)
    square = SquareAttack(fclf, norm=np.inf, eps=EPS, max_iter=1000, p_init=0.5, nb_restarts=1, batch_size=N,
                          verbose=False)
    adv = square.generate(x.reshape(N, 1, 80, 100), y=y)
    record("square", dict(eps=EPS, max_iter=1000, p_init=0.5, nb_restarts=1), adv.reshape(N, 1, 8000))
    attacks = [apgd("cross_entropy"), apgd("difference_logits_ratio"), DeepFool(clf, max_iter=100, batch_size=N,
                                                                               verbose=False)]
    auto = AutoAttack(clf, norm=np.inf, eps=EPS, eps_step=2 * EPS, attacks=attacks, batch_size=N)
    record("autoattack", dict(eps=EPS, attacks=["apgd-ce", "apgd-dlr", "deepfool"]), auto.generate(x, y=y))
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "x.npy"), x16)
    meta = dict(art=art.__version__, torch=torch.__version__, eps=EPS, files=[os.path.basename(p) for p in paths],
                labels=labels.tolist(),
                results=results)
    with open(os.path.join(out, "art.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
