"""Writes tests/fixtures/silero/: onnxruntime's speech probabilities from the vendored Silero VAD
graph (models/silero-vad/silero_vad_16k_sequence.onnx) on real recordings, for
tests/silero_vad.rs.

- x.npy:     float32 [3, 16000]: two real AudioMNIST digits (../shared/data/real/audiomnist, 48 kHz,
             resampled to 16 kHz by scipy's polyphase filter, centred in one second) and one second
             of faint noise
- probs.npy: float32 [3, 32]: the speech probability of each window, as the silero-vad package's
             own batched front end (sequence_vad.frame_blocks) computes them: 512 new samples per
             window with the 64 before them, the last window zero-padded, the state at zero

Needs the anchor venv (../shared/bench/setup_venv.sh) with scipy:
    ~/.cache/avfoil-art-venv/bin/python tools/make_silero_fixtures.py
"""
import os
import wave

import numpy as np
import onnxruntime as ort
from scipy.signal import resample_poly

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "silero")
MODEL = os.path.join(ROOT, "models", "silero-vad", "silero_vad_16k_sequence.onnx")
CLIPS = ["01/0_01_0.wav", "42/9_42_10.wav"]
WINDOW, CONTEXT, LENGTH = 512, 64, 16000


def read(path):
    with wave.open(path) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 48000
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def centred(x):
    out = np.zeros(LENGTH, dtype=np.float32)
    x = x[:LENGTH]
    start = (LENGTH - len(x)) // 2
    out[start:start + len(x)] = x
    return out


def windows(x):
    frames = -(-len(x) // WINDOW)
    padded = np.zeros(CONTEXT + frames * WINDOW, dtype=np.float32)
    padded[CONTEXT:CONTEXT + len(x)] = x
    return np.stack([padded[k * WINDOW:k * WINDOW + CONTEXT + WINDOW] for k in range(frames)])


def main():
    os.makedirs(OUT, exist_ok=True)
    data = os.path.join(ROOT, "..", "shared", "data", "real", "audiomnist")
    rows = [centred(resample_poly(read(os.path.join(data, c)), 1, 3).astype(np.float32))
            for c in CLIPS]
    rows.append((np.random.default_rng(0).standard_normal(LENGTH) * 1e-3).astype(np.float32))
    x = np.stack(rows)
    session = ort.InferenceSession(MODEL)
    zeros = np.zeros((1, 1, 128), dtype=np.float32)
    probs = np.stack([
        session.run(["speech_probs"], {"input": windows(r), "h": zeros, "c": zeros})[0]
        for r in x
    ]).astype(np.float32)
    np.save(os.path.join(OUT, "x.npy"), x)
    np.save(os.path.join(OUT, "probs.npy"), probs)
    print(f"wrote {OUT}: max speech probability per example {probs.max(axis=1).round(3)}")


if __name__ == "__main__":
    main()
