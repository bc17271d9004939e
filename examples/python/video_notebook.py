"""ART's video notebook (adversarial_action_recognition.ipynb) with its imports changed to avfoil's.

The notebook's steps on avfoil's shipped action model (a 3-D CNN trained on the stand-in corpus;
ART's I3D/MXNet model is gone) and the bundled basketball clip: the clean top-5, FGM at 8/255,
frame saliency (how many frames it needs), and the H.264 defence on the clean and the sparse
adversarial clip; the clips are saved as GIFs, as the notebook does.

Run: python examples/python/video_notebook.py [OUT_DIR]
"""

import os
import sys

import numpy as np

# The notebook imported these from art.attacks.evasion and art.defences.preprocessor.
from avfoil import Classifier
from avfoil.attacks import FastGradientMethod, FrameSaliencyAttack
from avfoil.defences import VideoCompression
from avfoil.io import write_gif

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP = os.path.join(HERE, "..", "v_Basketball_g02_c01.mp4")


def top5(classifier, x):
    logits = classifier.predict(x)[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    best = np.argsort(-p)[:5]
    return ", ".join(f"{classifier.class_names[k]} {p[k]:.3f}" for k in best)


def perturbed_frames(x, x_adv):
    # The notebook counts frames whose L2 change, rounded to 4 decimals, is non-zero.
    diff = (x_adv - x)[0]  # (3, F, H, W)
    norms = np.sqrt((diff**2).sum(axis=(0, 2, 3)))
    return int(np.count_nonzero(np.round(norms, 4)))


def main(out_dir=None):
    classifier = Classifier.shipped("actions")
    adv_sample_input = classifier.load_input(CLIP)[None]  # (1, 3, F, H, W), pixels in [0, 1]
    rows = [("clean", top5(classifier, adv_sample_input))]

    fgsm = FastGradientMethod(classifier, eps=8 / 255)
    adv_fgsm = fgsm.generate(x=adv_sample_input)
    rows.append(("FGM eps 8/255", top5(classifier, adv_fgsm)))

    fsa = FrameSaliencyAttack(classifier, fgsm, "iterative_saliency", frame_index=2)
    adv_fsa = fsa.generate(x=adv_sample_input)
    frames = perturbed_frames(adv_sample_input, adv_fsa)
    rows.append((f"frame saliency ({frames} frames)", top5(classifier, adv_fsa)))

    video_compression = VideoCompression(
        video_format="avi", constant_rate_factor=30, channels_first=True
    )
    clean_h264 = video_compression(adv_sample_input * 255)[0] / 255
    fsa_h264 = video_compression(adv_fsa * 255)[0] / 255
    rows.append(("H.264 (crf 30) on clean", top5(classifier, clean_h264)))
    rows.append(("H.264 (crf 30) on frame saliency", top5(classifier, fsa_h264)))

    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        write_gif(os.path.join(out_dir, "clean.gif"), adv_sample_input[0])
        write_gif(os.path.join(out_dir, "fgm.gif"), adv_fgsm[0])
        write_gif(os.path.join(out_dir, "frame-saliency.gif"), adv_fsa[0])

    for stage, predictions in rows:
        print(f"{stage:<34} {predictions}")
    return rows, frames


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
