"""Fixtures for the audio tests: sox's resampling and ART's MP3 defence on real recordings.

Run from the repository root with the ART venv (bench/setup_venv.sh) and sox installed:
    ~/.cache/avfoil-art-venv/bin/python tools/make_audio_fixtures.py
Writes tests/fixtures/audio/:
  sox_6_56_49_8k.wav   ../shared/data/real/audiomnist/56/6_56_49.wav resampled 48 kHz -> 8 kHz by sox
                       (`sox in.wav -e floating-point -b 32 out.wav rate 8000`: sox's default high quality)
  mp3_input.npy        FSDD test clip 8_nicolas_0 fitted to 8000 samples (int16 units, float32, (1, 1, 8000))
  mp3_art.npy          ART 1.20 Mp3Compression(sample_rate=8000, channels_first=True) of it (float32)
"""
import subprocess
from pathlib import Path

import numpy as np
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "fixtures" / "audio"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    src = SHARED / "real" / "audiomnist" / "56" / "6_56_49.wav"
    subprocess.run(
        ["sox", str(src), "-e", "floating-point", "-b", "32", str(OUT / "sox_6_56_49_8k.wav"), "rate", "8000"],
        check=True,
    )

    rate, pcm = wavfile.read(SHARED / "fsdd" / "recordings" / "8_nicolas_0.wav")
    assert rate == 8000 and pcm.dtype == np.int16
    x = np.zeros(8000, dtype=np.float32)
    n = min(len(pcm), 8000)
    start = (8000 - n) // 2
    x[start:start + n] = pcm[:n]
    x = x.reshape(1, 1, 8000)
    np.save(OUT / "mp3_input.npy", x)

    from art.defences.preprocessor import Mp3Compression
    mp3 = Mp3Compression(sample_rate=8000, channels_first=True)
    y, _ = mp3(x.copy())
    np.save(OUT / "mp3_art.npy", y.astype(np.float32))
    snr = 10 * np.log10((x ** 2).sum() / ((y - x) ** 2).sum())
    print(f"ART mp3 SNR {snr:.2f} dB")


if __name__ == "__main__":
    main()
