import os
import shutil

import numpy as np
import pytest

import avfoil

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def digits():
    """The four bundled FSDD digits (1, 3, 5, 8), (4, 1, 8000) float32 in int16 units."""
    return np.load(os.path.join(REPO, "examples", "spoken-digits.npy"))


@pytest.fixture(scope="session")
def audio_classifier():
    return avfoil.Classifier.shipped("spoken-digits")


@pytest.fixture(scope="session")
def video_classifier():
    return avfoil.Classifier.shipped("actions")


@pytest.fixture(scope="session")
def cli():
    """The `avfoil` binary built from this checkout (`cargo build`), or $AVFOIL_BIN."""
    candidates = [os.environ.get("AVFOIL_BIN")] + [
        os.path.join(REPO, "target", profile, "avfoil") for profile in ("debug", "release")
    ]
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    found = shutil.which("avfoil")
    if found:
        return found
    pytest.fail("no avfoil binary: run `cargo build` first or set AVFOIL_BIN")
