"""Fixture for avfoil's psychoacoustic masking threshold (src/audio/masking.rs, tests/psychoacoustic.rs).

Writes tests/fixtures/masking/threshold.json: a quarter second (2000 samples, the loudest such stretch
at a 250-sample grid) of the FSDD clip 0_lucas_9.wav (8 kHz int16, also in tests/fixtures/perception),
and for two settings (window 512, hop 128 at 8000 Hz; window 1024, hop 256 with the same samples read
as 16000 Hz, which exercises other Bark and ATH values) the masking threshold and per-frame PSD maximum
computed by ART's own `PsychoacousticMasker` (art/attacks/evasion/imperceptible_asr/imperceptible_asr.py,
imported from the installed package, not copied), as:

- `art`: ART's masker as shipped (`threshold_art`);
- `fixed`: the same with its 0.5-Bark masker filter corrected (`threshold`): ART compares
  `bark[i] - bark[i_prev]`, the Bark values of the maskers' positions in the list, where the
  frequency bins' `bark[masker_idx[i]] - bark[masker_idx[i_prev]]` are meant, and after dropping the
  earlier masker of a pair it moves `i_prev` to `i_prev + 1`, which may be a masker already dropped;
  the fix uses the bins and moves `i_prev` to `i`. This subclass overrides `filter_maskers` only.

Thresholds are frame-major lists (`frames` lists of `bins` values) in dB rounded to 1e-6, with null for
-inf (a bin below 20 Hz, where ART sets the absolute threshold of hearing to -inf, that no masker reaches);
`psd_max` is the clip's PSD maximum in dB (ART 1.20 normalises the whole clip, not each frame, to 96 dB).
ART computes the STFT with librosa in float32, so the reference carries float32 rounding.

Run with a venv holding adversarial-robustness-toolbox, numpy, scipy and packaging (ART's masker needs
neither torch nor tensorflow, but librosa for its STFT):
    python3 -m venv /tmp/artvenv && /tmp/artvenv/bin/pip install adversarial-robustness-toolbox numpy scipy packaging librosa
    /tmp/artvenv/bin/python tools/make_masking_fixture.py
Deterministic: rerunning it writes the same file. Generated with ART 1.20.1.
"""

import json
import os

import art
import numpy as np
from art.attacks.evasion.imperceptible_asr.imperceptible_asr import PsychoacousticMasker
from scipy.io import wavfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "masking")
CLIP = os.path.join(ROOT, "tests", "fixtures", "perception", "0_lucas_9.wav")
LENGTH = 2000
SETTINGS = [(512, 128, 8000), (1024, 256, 16000)]


class FixedMasker(PsychoacousticMasker):
    """ART's masker with the 0.5-Bark filter comparing frequency bins (see the module docstring)."""

    def filter_maskers(self, maskers, masker_idx):
        ath_condition = maskers > self.absolute_threshold_hearing[masker_idx]
        masker_idx = masker_idx[ath_condition]
        maskers = maskers[ath_condition]
        bark_condition = np.ones(masker_idx.shape, dtype=bool)
        i_prev = 0
        for i in range(1, len(masker_idx)):
            if self.bark[masker_idx[i]] - self.bark[masker_idx[i_prev]] < 0.5:
                if maskers[i_prev] < maskers[i]:
                    bark_condition[i_prev] = False
                    i_prev = i
                else:
                    bark_condition[i] = False
            else:
                i_prev = i
        return maskers[bark_condition], masker_idx[bark_condition]


def frames(matrix):
    """(bins, frames) -> frame-major lists, +inf as None."""
    return [[None if np.isinf(v) else round(float(v), 6) for v in column] for column in matrix.T]


def main():
    rate, samples = wavfile.read(CLIP)
    assert rate == 8000 and samples.dtype == np.int16
    starts = range(0, len(samples) - LENGTH + 1, 250)
    start = max(starts, key=lambda s: float(np.sum(samples[s : s + LENGTH].astype(np.float64) ** 2)))
    audio = samples[start : start + LENGTH].astype(np.float64)
    cases = []
    for window, hop, sample_rate in SETTINGS:
        shipped = PsychoacousticMasker(window_size=window, hop_size=hop, sample_rate=sample_rate)
        fixed = FixedMasker(window_size=window, hop_size=hop, sample_rate=sample_rate)
        threshold_art, psd_max = shipped.calculate_threshold_and_psd_maximum(audio)
        threshold, psd_max_fixed = fixed.calculate_threshold_and_psd_maximum(audio)
        assert psd_max == psd_max_fixed
        cases.append(
            {
                "window": window,
                "hop": hop,
                "sample_rate": sample_rate,
                "frames": int(threshold.shape[1]),
                "bins": int(threshold.shape[0]),
                "psd_max": round(float(psd_max), 6),
                "threshold": frames(threshold),
                "threshold_art": frames(threshold_art),
            }
        )
        print(
            f"window {window} hop {hop} rate {sample_rate}: {threshold.shape[1]} frames, "
            f"ART's filter differs from the fixed one by up to "
            f"{np.max(np.abs(np.nan_to_num(threshold - threshold_art, nan=0.0))):.2f} dB"
        )
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "threshold.json"), "w") as f:
        json.dump(
            {
                "source": f"0_lucas_9.wav samples {start}..{start + LENGTH}",
                "art_version": art.__version__,
                "audio": [int(v) for v in audio],
                "cases": cases,
            },
            f,
            separators=(",", ":"),
        )
        f.write("\n")


if __name__ == "__main__":
    main()
