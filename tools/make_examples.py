"""Writes examples/spoken-digits.npy: four FSDD test clips (index 0: digits 1, 3, 5, 8 by the four
speakers), 8 kHz int16 values as float32, centre-padded to 8000 samples, shape [4, 1, 8000].
FSDD: Free Spoken Digit Dataset, CC BY-SA 4.0 (see examples/README.md).

    ~/.cache/avfoil-art-venv/bin/python tools/make_examples.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from train_reference import load  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
DATA = os.path.join(ROOT, "..", "shared", "data", "fsdd", "recordings")
CLIPS = ["1_george_0", "3_jackson_0", "5_lucas_0", "8_nicolas_0"]

x = np.stack([load(os.path.join(DATA, c + ".wav")) for c in CLIPS])[:, None, :].astype(np.float32)
os.makedirs(os.path.join(ROOT, "examples"), exist_ok=True)
np.save(os.path.join(ROOT, "examples", "spoken-digits.npy"), x)
print("wrote examples/spoken-digits.npy", x.shape, "labels", [c[0] for c in CLIPS])
