#!/usr/bin/env python3
"""Issue 19's perception goal, measured in one run: targeted PGD next to the psychoacoustic attack.

On FSDD test recordings (every `--every`-th of the files with index <= 4, sorted by name), each clip is
attacked towards the class after its true one ((digit + 1) mod 10) by both attacks at the same L-inf
budget, on the bare shipped model and adaptively through the MP3 defence (BPDA). Each attack's
`--json` report gives per clip success, PESQ (narrow band, against the clean clip), SNR and the
fraction of the perturbation's energy under the clean clip's masking threshold; this script prints
the success rates and, on the clips both attacks fool, the mean PESQ of each and their difference.

    python3 tools/measure_imperceptible.py --avfoil target/release/avfoil --out /tmp/imperceptible

Standard library only. Writes the adversarial WAVs and the JSON reports under --out (a new folder).
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

PGD = ["--attack", "pgd", "--eps-step", "32", "--max-iter", "200", "--early-stop"]
# Stage 2 needs alpha to adapt within 100 steps (ART's schedule assumes 4000): start it low and let
# it halve every 5 steps at which the clip is not adversarial.
PSYCHOACOUSTIC = ["--attack", "psychoacoustic"] + [
    a
    for kv in ("max_iter_1=40", "max_iter_2=100", "alpha=0.0005", "alpha_min=1e-8",
               "num_iter_decrease_alpha=5", "decrease_factor_alpha=0.5", "num_iter_increase_alpha=10")
    for a in ("--param", kv)
]


def clips(root: pathlib.Path, every: int):
    files = sorted(p for p in root.glob("*.wav") if int(p.stem.split("_")[2]) <= 4)
    return files[::every]


def attack(avfoil, args, files, targets, eps, defence, out):
    cmd = [avfoil, "attack", "--model", "spoken-digits", "--eps", str(eps), "--targeted",
           "--target", ",".join(map(str, targets)), "--seed", "0", "--quiet", "--json",
           "--out", str(out)] + args + (["--defence", defence] if defence else []) + [str(f) for f in files]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd[:12])} ...: {run.stderr.strip()}")
    out.with_suffix(".json").write_text(run.stdout)
    return json.loads(run.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--avfoil", default="target/release/avfoil")
    ap.add_argument("--data", default="../shared/data/fsdd/recordings")
    ap.add_argument("--every", type=int, default=15, help="take every N-th test recording")
    ap.add_argument("--eps", type=float, default=1024.0, help="L-inf budget in int16 steps")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=False)
    files = clips(pathlib.Path(a.data), a.every)
    targets = [(int(f.name[0]) + 1) % 10 for f in files]
    print(f"{len(files)} clips, L-inf {a.eps:g}, targets (digit + 1) mod 10")
    print("| | success PGD | success psychoacoustic | both fool (PESQ scored) | PESQ PGD | PESQ psychoacoustic | "
          "difference | energy masked PGD | energy masked psychoacoustic |")
    print("|---|---|---|---|---|---|---|---|---|")
    for defence in (None, "mp3"):
        name = defence or "bare"
        reports = {k: attack(a.avfoil, args, files, targets, a.eps, defence, out / f"{name}-{k}")
                   for k, args in (("pgd", PGD), ("psychoacoustic", PSYCHOACOUSTIC))}
        rows = {k: r["examples"] for k, r in reports.items()}
        # PESQ leaves out a clip it cannot score (no speech found): compared where both have it.
        both = [i for i in range(len(files))
                if all(rows[k][i]["success"] and "pesq" in rows[k][i] for k in rows)]
        mean = lambda k, key, idx: statistics.fmean(rows[k][i][key] for i in idx) if idx else float("nan")
        rate = lambda k: sum(e["success"] for e in rows[k]) / len(files)
        pesq = {k: mean(k, "pesq", both) for k in rows}
        masked = {k: mean(k, "masked_energy", [i for i, e in enumerate(rows[k])
                                               if e["success"] and "masked_energy" in e])
                  for k in rows}
        print(f"| {name} | {rate('pgd'):.0%} | {rate('psychoacoustic'):.0%} | {len(both)} | "
              f"{pesq['pgd']:.2f} | {pesq['psychoacoustic']:.2f} | {pesq['psychoacoustic'] - pesq['pgd']:+.2f} | "
              f"{masked['pgd']:.3f} | {masked['psychoacoustic']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
