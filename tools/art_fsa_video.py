"""The ART peer of benches/fsa_video.rs, on weights both sides share.

`../shared/bench/art_baseline.py fsa_video` builds its VideoCNN from torch's global generator,
seeded with 0 at import and advanced by every case that runs before it in the same invocation: run
alone, `fsa_video` gets exactly the weights of seed 0 here (checked); after other cases, others. The
number of frames ART needs, and with it its time (two single-clip forward passes per frame), depends
on those weights. Here the weights come from `torch.manual_seed(SEED)` right before `VideoCNN()`,
are saved for the Rust benchmark, and ART's FrameSaliencyAttack (FGM L∞ eps 2/255,
"iterative_saliency", frame_index=2, as art_baseline) is timed on exactly those weights and on
art_baseline's `video_batch(1)`.

    # which seeds flip under the full FGM (cheap), and how many frames ART then needs (one run each)
    ~/.cache/avfoil-art-venv/bin/python tools/art_fsa_video.py search 0 200
    # save weights and input, time ART: one warm-up, then the median of REPS
    ~/.cache/avfoil-art-venv/bin/python tools/art_fsa_video.py time SEED [SEED ...] [--reps 3]
    # what one pass costs in PyTorch: forward at batch 1, 2, 4 (per clip) and the input gradient
    ~/.cache/avfoil-art-venv/bin/python tools/art_fsa_video.py pieces SEED [--reps 3]
    # ART's AutoAttack (APGD-CE then APGD-DLR, L∞ 8/255, 100 iterations, RESTARTS each), one run
    ~/.cache/avfoil-art-venv/bin/python tools/art_fsa_video.py auto SEED RESTARTS

Writes target/bench/fsa_video_x.npy (the clip, [1, 3, 16, 112, 112]) and
target/bench/fsa_video_seed{SEED}.safetensors (the state_dict: `f.0.weight`, …, `fc.bias`), and
prints one JSON line per seed with the seconds, the frames ART perturbed and the predictions.
THREADS (default 2) sets torch's threads, as in art_baseline.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.environ.get("ART_BASELINE_DIR", os.path.join(ROOT, "..", "shared", "bench"))
sys.path.insert(0, BASELINE)
import art_baseline as ab  # noqa: E402  (sets torch's threads from THREADS; imports ART)
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from art.attacks.evasion import FastGradientMethod, FrameSaliencyAttack  # noqa: E402

OUT = os.path.join(ROOT, "target", "bench")


def classifier(seed):
    torch.manual_seed(seed)
    model = ab.VideoCNN().eval()
    return model, ab.PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(),
                                       input_shape=(3, 16, 112, 112), nb_classes=10, clip_values=(0, 1))


def attack(clf):
    fgm = FastGradientMethod(clf, eps=2 / 255)
    return FrameSaliencyAttack(clf, fgm, "iterative_saliency", frame_index=2, verbose=False)


def perturbed_frames(adv, x):
    d = np.abs(adv - x).reshape(3, 16, -1).max(axis=(0, 2))
    return [int(f) for f in np.nonzero(d > 0)[0]]


def run(seed, x, reps):
    model, clf = classifier(seed)
    fsa = attack(clf)
    out = [None]

    def once():
        out[0] = fsa.generate(x)

    seconds = None
    if reps > 0:
        seconds = ab.timed(once, reps)
    else:
        once()
    frames = perturbed_frames(out[0], x)
    clean = int(clf.predict(x).argmax(1)[0])
    adv = int(clf.predict(out[0]).argmax(1)[0])
    return model, dict(seed=seed, frames_perturbed=len(frames), frames=frames, clean_label=clean,
                       adversarial_label=adv, seconds=None if seconds is None else round(seconds, 4))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search")
    s.add_argument("first", type=int)
    s.add_argument("last", type=int)
    t = sub.add_parser("time")
    t.add_argument("seeds", type=int, nargs="+")
    t.add_argument("--reps", type=int, default=3)
    a = sub.add_parser("auto")  # ART's AutoAttack: APGD-CE then APGD-DLR, as the baseline's autoattack_audio
    a.add_argument("seed", type=int)
    a.add_argument("restarts", type=int)
    c = sub.add_parser("pieces")
    c.add_argument("seed", type=int)
    c.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    x = ab.video_batch(1)
    if args.cmd == "auto":
        from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent
        _, clf = classifier(args.seed)
        apgds = [AutoProjectedGradientDescent(clf, norm=np.inf, eps=8 / 255, eps_step=16 / 255, max_iter=100,
                                              nb_random_init=args.restarts, batch_size=1, loss_type=loss,
                                              verbose=False)
                 for loss in ("cross_entropy", "difference_logits_ratio")]
        auto = AutoAttack(clf, norm=np.inf, eps=8 / 255, eps_step=16 / 255, attacks=apgds, batch_size=1)
        out = {}
        seconds = ab.once(lambda: out.setdefault("adv", auto.generate(x)))
        robust = bool(clf.predict(out["adv"]).argmax(1)[0] == clf.predict(x).argmax(1)[0])
        ab.report("autoattack_apgd_ce_dlr_video_16x112", seconds, 1, seed=args.seed, restarts=args.restarts,
                  robust=robust)
        return
    if args.cmd == "search":
        # The full FGM (every frame) first: where it does not flip the clip, ART ends with all 16
        # frames perturbed unless a prefix flips on its own, so only those seeds get an ART run.
        xt = torch.from_numpy(x)
        for seed in range(args.first, args.last + 1):
            model, _ = classifier(seed)
            xg = xt.clone().requires_grad_(True)
            logits = model(xg)
            label = logits.argmax(1)
            (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, label), xg)
            with torch.no_grad():
                adv = torch.clamp(xt + 2 / 255 * g.sign(), 0, 1)
                flips = bool(model(adv).argmax(1)[0] != label[0])
                top = logits[0].topk(2).values
            r = dict(seed=seed, full_fgm_flips=flips, margin=round(float(top[0] - top[1]), 5))
            if flips:
                r.update(run(seed, x, 0)[1])
            print(json.dumps(r), flush=True)
        return
    if args.cmd == "pieces":
        model, _ = classifier(args.seed)
        xt = torch.from_numpy(x)
        for n in (1, 2, 4):
            xs = xt.repeat(n, 1, 1, 1, 1)

            def forward():
                with torch.no_grad():
                    return model(xs)

            s = ab.timed(forward, args.reps)
            ab.report("torch_video_cnn_forward", s, n, batch=n, seed=args.seed)

        def gradient():
            xg = xt.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xg), torch.tensor([0]), reduction="sum")
            return torch.autograd.grad(loss, xg)

        ab.report("torch_video_cnn_input_gradient", ab.timed(gradient, args.reps), 1, seed=args.seed)
        return
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "fsa_video_x.npy"), x)
    for seed in args.seeds:
        model, r = run(seed, x, args.reps)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(OUT, f"fsa_video_seed{seed}.safetensors"))
        print(json.dumps(dict(case="art_fsa_iter_video_16x112", items=1, peer="ART 1.20.1",
                              torch=torch.__version__, threads=torch.get_num_threads(), reps=args.reps, **r)),
              flush=True)


if __name__ == "__main__":
    main()
