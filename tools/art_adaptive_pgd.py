"""ART's adaptive PGD through Mp3Compression: the peer of `cargo bench --bench mp3_audio`.

PyTorchClassifier(RawAudioCNN, preprocessing_defences=[Mp3Compression(8000)]), ProjectedGradientDescent
L-inf eps 0.5, eps_step 0.1, 40 iterations, batch 16 (the notebook's last step at benchmark size), on
../shared/bench/art_baseline.py's audio_batch(16). One timed run after a 1-iteration warm-up (a full run
takes minutes: ART spawns ffmpeg three times per clip per gradient).

    ~/.cache/avfoil-art-venv/bin/python tools/art_adaptive_pgd.py
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "shared" / "bench"))
import art_baseline as base  # noqa: E402
from art.attacks.evasion import ProjectedGradientDescent  # noqa: E402
from art.defences.preprocessor import Mp3Compression  # noqa: E402


def main():
    x = base.audio_batch(16)
    clf = base.audio_clf([Mp3Compression(sample_rate=8000, channels_first=True, verbose=False)])
    ProjectedGradientDescent(clf, eps=0.5, eps_step=0.1, max_iter=1, batch_size=16, verbose=False).generate(x[:1])
    pgd = ProjectedGradientDescent(clf, eps=0.5, eps_step=0.1, max_iter=40, batch_size=16, verbose=False)
    t0 = time.perf_counter()
    pgd.generate(x)
    base.report("adaptive_pgd40_mp3_b16", time.perf_counter() - t0, 16)


if __name__ == "__main__":
    main()
