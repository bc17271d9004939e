"""ART's audio notebook (adversarial_audio_examples.ipynb) with its imports changed to avfoil's.

The notebook's steps on avfoil's shipped spoken-digits model (ART's raw-waveform CNN, trained by
avfoil) and four bundled FSDD test digits: the clean prediction, PGD, the MP3 defence, and PGD
again through the MP3 defence (the adaptive attack, BPDA). The notebook's eps of half an int16
step does not move this model (see its model card); the budget here is 64 int16 steps.

Run: python examples/python/audio_notebook.py [OUT_DIR]
"""

import os
import sys

import numpy as np

# The notebook imported these from art.estimators.classification, art.attacks.evasion and
# art.defences.preprocessor.
from avfoil import Classifier
from avfoil.attacks import ProjectedGradientDescent
from avfoil.defences import Mp3Compression
from avfoil.io import write_wav

HERE = os.path.dirname(os.path.abspath(__file__))
CLIPS = os.path.join(HERE, "..", "spoken-digits.npy")
NAMES = ["1_george_0", "3_jackson_0", "5_lucas_0", "8_nicolas_0"]
LABELS = [1, 3, 5, 8]
AUDIO_SAMPLING_RATE = 8000
EPS = 64.0


def main(out_dir=None):
    # The notebook wrapped its torch model: PyTorchClassifier(model, loss, optimizer, input_shape=
    # [1, 8000], nb_classes=10, clip_values=(-2**15, 2**15 - 1)). avfoil ships the model.
    classifier_art = Classifier.shipped("spoken-digits")
    assert classifier_art.input_shape == (1, AUDIO_SAMPLING_RATE)
    waveforms = np.load(CLIPS)

    pgd = ProjectedGradientDescent(classifier_art, eps=EPS, eps_step=EPS / 4, max_iter=100)
    mp3_compression = Mp3Compression(channels_first=True, sample_rate=AUDIO_SAMPLING_RATE)
    classifier_art_def = Classifier.shipped(
        "spoken-digits", preprocessing_defences=[mp3_compression]
    )
    pgd_def = ProjectedGradientDescent(classifier_art_def, eps=EPS, eps_step=EPS / 5, max_iter=40)

    rows = []
    for name, label, waveform in zip(NAMES, LABELS, waveforms):
        x = waveform[None]  # (1, 1, 8000), int16 units
        pred = int(np.argmax(classifier_art.predict(x)))
        adv_waveform = pgd.generate(x=x)
        pred_adv = int(np.argmax(classifier_art.predict(adv_waveform)))
        # The defence on its own: clean and adversarial through MP3, then the undefended model.
        audio_mp3 = mp3_compression(x)[0]
        adv_mp3 = mp3_compression(adv_waveform)[0]
        pred_mp3 = int(np.argmax(classifier_art.predict(audio_mp3)))
        pred_adv_mp3 = int(np.argmax(classifier_art.predict(adv_mp3)))
        # The adaptive attack: PGD through the defence.
        adv_def = pgd_def.generate(x=x)
        pred_adv_def = int(np.argmax(classifier_art_def.predict(adv_def)))
        linf = float(np.max(np.abs(adv_waveform - x)))
        rows.append((name, label, pred, pred_adv, pred_mp3, pred_adv_mp3, pred_adv_def, linf))
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            write_wav(os.path.join(out_dir, f"{name}.clean.wav"), x[0, 0] / 32768, 8000)
            write_wav(os.path.join(out_dir, f"{name}.pgd.wav"), adv_waveform[0, 0] / 32768, 8000)
            write_wav(os.path.join(out_dir, f"{name}.pgd-mp3.wav"), adv_def[0, 0] / 32768, 8000)

    print(f"PGD: eps {EPS:g} int16 steps, step {EPS / 4:g}, 100 iterations; "
          f"through MP3: step {EPS / 5:g}, 40 iterations")
    header = ("clip", "label", "clean", "PGD", "clean+MP3", "PGD+MP3", "PGD through MP3", "Linf")
    print("{:<12} {:>5} {:>5} {:>5} {:>9} {:>7} {:>15} {:>6}".format(*header))
    for r in rows:
        print("{:<12} {:>5} {:>5} {:>5} {:>9} {:>7} {:>15} {:>6.1f}".format(*r))
    return rows


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
