"""ART 1.20's APGD-CE and AutoAttack on c3d-lite, the shipped `actions` model, for docs/benchmarks.md
(issue 15: both at least 3x slower than avfoil's on c3d-lite).

ART runs the model's PyTorch twin (tools/make_c3d_lite_fixtures.py's C3dLite) with the shipped
weights (models/actions/model.safetensors: the same key names), on the clips avfoil itself reads, so
both sides attack the same network on the same input. AutoAttack is APGD-CE then APGD-DLR, as
../shared/bench/art_baseline.py's `autoattack_audio` runs it (ART's default list has its SquareAttack,
which takes 4-D image batches only and so refuses video).

    # the clips as the model sees them (avfoil's sampling), one batch:
    avfoil data actions --out /tmp/vb --groups 1 --clips 1 --seed 7
    avfoil attack --model actions --attack fgm --eps 0 --out /tmp/vb/clean /tmp/vb/UCF-101/*/*.mp4
    python tools/art_video_attacks.py stack /tmp/vb/clean /tmp/vb/clips10.npy
    # ART's times (EPS_UINT8: the L-inf budget in 8-bit steps; RESTARTS of each AutoAttack component):
    python tools/art_video_attacks.py time /tmp/vb/clips10.npy 1 5 [apgd] [auto]

Run with the anchor venv (../shared/bench/setup_venv.sh). Prints one JSON line per case: seconds
(one run, no warm-up, as the baseline's `once`) and the robust accuracy against the clean predictions.
"""
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from make_c3d_lite_fixtures import C3dLite  # noqa: E402

WEIGHTS = os.path.join(os.path.dirname(__file__), "..", "models", "actions", "model.safetensors")
SHAPE = (3, 16, 60, 80)
CLASSES = 10


def stack(folder, out):
    files = sorted(glob.glob(os.path.join(folder, "*.npy")))
    if not files:
        sys.exit(f"no .npy files in {folder}")
    x = np.stack([np.load(f).reshape(SHAPE) for f in files]).astype(np.float32)
    np.save(out, x)
    print(f"{out}: {x.shape} from {len(files)} files")


def classifier():
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(2)
    model = C3dLite(CLASSES)
    model.load_state_dict(load_file(WEIGHTS))
    model.eval()
    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=SHAPE, nb_classes=CLASSES,
                             clip_values=(0.0, 1.0))


def timed(case, clf, attack, x, clean, **kw):
    t0 = time.perf_counter()
    adv = attack.generate(x)
    seconds = time.perf_counter() - t0
    robust = float((clf.predict(adv).argmax(1) == clean).mean())
    assert np.abs(adv - x).max() <= kw["eps"] + 1e-6
    print(json.dumps(dict(case=case, seconds=round(seconds, 3), items=len(x), robust_accuracy=robust, **kw)), flush=True)


def main(path, eps_uint8, restarts, cases):
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent

    x = np.load(path).astype(np.float32)
    clf = classifier()
    clean = clf.predict(x).argmax(1)
    eps = eps_uint8 / 255
    n = len(x)

    def apgd(loss, inits):
        return AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=100,
                                            nb_random_init=inits, batch_size=n, loss_type=loss, verbose=False)

    if "apgd" in cases:
        timed("art_apgd_ce100_c3d_lite", clf, apgd("cross_entropy", 1), x, clean, eps=eps)
    if "auto" in cases:
        attacks = [apgd(loss, restarts) for loss in ("cross_entropy", "difference_logits_ratio")]
        auto = AutoAttack(clf, norm=np.inf, eps=eps, eps_step=2 * eps, attacks=attacks, batch_size=n)
        timed("art_autoattack_apgd_ce_dlr_c3d_lite", clf, auto, x, clean, eps=eps, restarts=restarts)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "stack":
        stack(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "time":
        main(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), set(sys.argv[5:]) or {"apgd", "auto"})
    else:
        sys.exit(__doc__)
