"""The Python package's cost over the command line, and against ART, on PGD-40 (RawAudioCNN).

The same work three ways, in one window: the baseline's case `pgd40_audio_b16` (16 synthetic
clips, L-inf eps 0.5, step 0.1, 40 iterations, batch 16; bench/art_baseline.py) as
  1. avfoil's Python package: ProjectedGradientDescent(...).generate(x), wall time of the call;
  2. `avfoil attack` (release build): the attack's own seconds from --json, and the process's wall
     time (model load, input and output files included);
  3. ART 1.20.1 + PyTorch running the notebook's code (bench/art_baseline.py pgd_audio), in the ART
     venv, when ART_PYTHON names its interpreter.
Each is the median of 3 runs after a warm-up. Prints one JSON line per measurement.

Run with the venv holding a release build of the package (`pip install ./python`):
    python tools/bench_python.py --cli target/release/avfoil [--art-python ~/.cache/avfoil-art-venv/bin/python]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import avfoil
from avfoil.attacks import ProjectedGradientDescent


def audio_batch(n):
    """bench/art_baseline.py's input: chirpy tones under a Gaussian envelope plus noise."""
    t = np.arange(8000) / 8000.0
    x = np.stack(
        [3000 * np.sin(2 * np.pi * (200 + 40 * i) * t) * np.exp(-((t - 0.5) ** 2) / 0.02) for i in range(n)]
    )
    x += np.random.normal(0, 50, x.shape)
    return x[:, None, :].astype(np.float32)


def median_of(fn, reps=3):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--art-python")
    parser.add_argument("--art-baseline", default=os.path.join("..", "shared", "bench", "art_baseline.py"))
    args = parser.parse_args()
    np.random.seed(0)
    x = audio_batch(16)
    classifier = avfoil.Classifier.shipped("spoken-digits")
    pgd = ProjectedGradientDescent(classifier, eps=0.5, eps_step=0.1, max_iter=40, batch_size=16, verbose=False)
    python_s = median_of(lambda: pgd.generate(x))
    print(json.dumps({"case": "python_pgd40_audio_b16", "seconds": round(python_s, 4)}), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.npy")
        np.save(src, x)
        attack_s, wall_s = [], []
        for i in range(4):
            out = os.path.join(tmp, f"adv{i}.npy")
            t0 = time.perf_counter()
            done = subprocess.run(
                [args.cli, "attack", "--model", "spoken-digits", "--attack", "pgd", "--eps", "0.5",
                 "--eps-step", "0.1", "--max-iter", "40", "--batch-size", "16", "--json", "--out", out, src],
                check=True, capture_output=True, text=True,
            )
            wall = time.perf_counter() - t0
            if i:  # the first is the warm-up
                attack_s.append(json.loads(done.stdout)["seconds"])
                wall_s.append(wall)
        cli_attack, cli_wall = statistics.median(attack_s), statistics.median(wall_s)
    print(json.dumps({"case": "cli_pgd40_audio_b16", "attack_seconds": round(cli_attack, 4),
                      "process_seconds": round(cli_wall, 4)}), flush=True)
    print(json.dumps({"python_over_cli_attack": round(python_s / cli_attack - 1, 4)}), flush=True)

    if args.art_python:
        done = subprocess.run([args.art_python, args.art_baseline, "pgd_audio"], check=True,
                              capture_output=True, text=True)
        art = [json.loads(l) for l in done.stdout.splitlines() if l.startswith("{")]
        art_s = next(r["seconds"] for r in art if r["case"] == "pgd40_audio_b16")
        print(json.dumps({"case": "art_pgd40_audio_b16", "seconds": art_s}), flush=True)
        print(json.dumps({"art_over_python": round(art_s / python_s, 3),
                          "art_over_cli_attack": round(art_s / cli_attack, 3)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
