"""Fixtures for avfoil's perceptual metrics (tests/perception.rs).

Writes tests/fixtures/perception/: two FSDD clips (8 kHz int16 WAV), each with two degraded versions
(white noise at 20 dB and 5 dB SNR, rounded to int16), a small video pair (.npy, [3, T, H, W] in
[0, 1]), and reference.json with the scores of the Python reference implementations: the `pesq`
package (mode 'nb', P.862 + P.862.1 MOS-LQO), `pystoi` (classical STOI) and
skimage.metrics.structural_similarity (Gaussian 11x11, sigma 1.5, population covariance).

Run with ~/.cache/avfoil-art-venv/bin/python tools/make_perception_fixtures.py (needs numpy, scipy,
pesq, pystoi, scikit-image). Seeded: rerunning it writes the same files.
"""

import json
import os

import numpy as np
import pesq
import pystoi
import skimage
from scipy.io import wavfile
from skimage.metrics import structural_similarity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "perception")
FSDD = "/work/shared/data/fsdd/recordings"
CLIPS = ["0_lucas_9", "3_jackson_5"]
SNRS_DB = [20, 5]


def noisy(clean, snr_db, rng):
    noise = rng.standard_normal(clean.shape)
    x = clean.astype(np.float64)
    noise *= np.sqrt(np.sum(x**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(19)
    ref = {"versions": {"pesq": getattr(pesq, "__version__", "?"),
                        "pystoi": getattr(pystoi, "__version__", "?"),
                        "skimage": skimage.__version__},
           "audio": [], "video": []}
    for name in CLIPS:
        rate, clean = wavfile.read(os.path.join(FSDD, name + ".wav"))
        assert rate == 8000 and clean.dtype == np.int16
        wavfile.write(os.path.join(OUT, name + ".wav"), rate, clean)
        cases = [("identical", clean)] + [(f"noise{s}", noisy(clean, s, rng)) for s in SNRS_DB]
        for label, deg in cases:
            file = f"{name}_{label}.wav"
            if label != "identical":
                wavfile.write(os.path.join(OUT, file), rate, deg)
            ref["audio"].append({
                "clean": name + ".wav",
                "degraded": name + ".wav" if label == "identical" else file,
                "sample_rate": rate,
                "pesq_nb": float(pesq.pesq(rate, clean, deg, "nb")),
                "stoi": float(pystoi.stoi(clean.astype(np.float64), deg.astype(np.float64), rate)),
            })
    # A small smooth clip [3, T, H, W] and two noisier versions of it.
    c, t, h, w = 3, 4, 24, 20
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    clip = np.stack([np.stack([0.5 + 0.4 * np.sin(3 * xx + 2 * yy + 0.3 * f + k) for f in range(t)])
                     for k in range(c)]).astype(np.float32)
    np.save(os.path.join(OUT, "video_clean.npy"), clip)
    for sigma in [0.02, 0.1]:
        adv = np.clip(clip + rng.normal(0, sigma, clip.shape), 0, 1).astype(np.float32)
        file = f"video_noise{sigma}.npy"
        np.save(os.path.join(OUT, file), adv)
        per_frame = []
        for f in range(t):
            a = clip[:, f].astype(np.float64)
            b = adv[:, f].astype(np.float64)
            per_frame.append(float(structural_similarity(
                a, b, channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False)))
        ref["video"].append({"clean": "video_clean.npy", "degraded": file,
                             "ssim_per_frame": per_frame})
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
