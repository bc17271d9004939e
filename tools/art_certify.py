"""ART's randomised-smoothing certification on the baseline's RawAudioCNN and audio batch, with a
chosen clip count and sample sizes: the peer of `AVFOIL_CERTIFY=CLIPS,N0,N cargo bench --bench
certify` (sigma 256, alpha 0.001, batch 100, as ../shared/bench/art_baseline.py smoothing_audio).

    ~/.cache/avfoil-art-venv/bin/python tools/art_certify.py 2 100 10000
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
import art_baseline as base  # noqa: E402
import torch.nn as nn  # noqa: E402
from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing  # noqa: E402


def main(clips, n0, n):
    m = base.RawAudioCNN().eval()
    rs = PyTorchRandomizedSmoothing(model=m, loss=nn.CrossEntropyLoss(), input_shape=(1, 8000),
                                    nb_classes=10, sample_size=n0, scale=256.0, alpha=0.001)
    x = base.audio_batch(clips)
    base.report(f"smoothing_certify_n{n}_audio", base.once(lambda: rs.certify(x, n=n, batch_size=100)),
                clips)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
