"""End-to-end check: `avfoil predict --json` and `avfoil attack --json` on a PyTorch-trained
RawAudioCNN against PyTorch and ART on the same inputs. Prints agreement figures.

    ~/.cache/avfoil-art-venv/bin/python tools/compare_with_art.py MODEL_DIR CLIPS.npy [AVFOIL_BINARY]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from raw_audio_cnn import RawAudioCNN  # noqa: E402


def avfoil(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main(model_dir, clips, binary="target/release/avfoil"):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(2)
    x = np.load(clips)
    model = RawAudioCNN()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pt")))
    model.eval()
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(1, 8000), nb_classes=10,
                            clip_values=(-2 ** 15, 2 ** 15 - 1))
    torch_logits = clf.predict(x)
    ours = avfoil(binary, "predict", "--model", model_dir, "--json", clips)["predictions"]
    our_logits = np.array([p["logits"] for p in ours])
    print(json.dumps({"check": "predict", "examples": len(x),
                      "same_label": int((our_logits.argmax(1) == torch_logits.argmax(1)).sum()),
                      "max_logit_abs_diff": float(np.abs(our_logits - torch_logits).max())}))
    with tempfile.TemporaryDirectory() as tmp:
        for name, attack, args in [
            ("fgm", FastGradientMethod(clf, eps=64.0, batch_size=16), ["--attack", "fgm", "--eps", "64"]),
            ("pgd", ProjectedGradientDescent(clf, eps=0.5, eps_step=0.1, max_iter=100, batch_size=16, verbose=False),
             ["--attack", "pgd", "--eps", "0.5", "--eps-step", "0.1", "--max-iter", "100"]),
        ]:
            art_adv = attack.generate(x)
            art_labels = clf.predict(art_adv).argmax(1)
            out = os.path.join(tmp, name + ".npy")
            doc = avfoil(binary, "attack", "--model", model_dir, *args, "--batch-size", "16", "--out", out, "--json", clips)
            our_adv = np.load(out)
            our_labels = np.array([e["adversarial"]["label"] for e in doc["examples"]])
            print(json.dumps({"check": name, "examples": len(x),
                              "same_adversarial_label": int((our_labels == art_labels).sum()),
                              "art_success": int((art_labels != torch_logits.argmax(1)).sum()),
                              "avfoil_success": int(sum(e["success"] for e in doc["examples"])),
                              "samples_equal_to_art": float(np.mean(np.abs(our_adv - art_adv) <= 1e-3))}))


if __name__ == "__main__":
    main(*sys.argv[1:])
