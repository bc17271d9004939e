"""Writes tests/fixtures/video_resnet: torchvision's r3d_18 and r2plus1d_18 with random weights and
non-trivial batch-norm statistics, narrowed so the files can be committed, with what PyTorch computes
on a small clip batch (logits and the input gradient of the cross-entropy).

The full models are 33M and 31M parameters (130 MB in float32), so the fixtures use the same
architecture code (torchvision's VideoResNet, BasicBlock, Conv3DSimple, Conv2Plus1D, _make_layer)
with the four stage widths 64/128/256/512 replaced by WIDTHS and the R(2+1)D stem's 45 intermediate
channels by STEM_MID. Before writing anything the script checks that this narrowing, at torchvision's
own widths, reproduces torchvision's r3d_18 and r2plus1d_18 exactly (same keys, same shapes, same
logits), so the only thing it changes is the widths.

No network access is needed: weights are random (torch.manual_seed), never downloaded.

Run with the anchor venv (../shared/bench/setup_venv.sh):
    ~/.cache/avfoil-art-venv/bin/python tools/make_video_resnet_fixtures.py
"""
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

from fixture_weights import randomise

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "video_resnet")
WIDTHS = (8, 12, 16, 24)
STEM_MID = 10
CLASSES = 5
# Odd, non-square and short, so that padding, stride rounding and the H/W order all matter:
# 7 frames -> 7, 4, 2, 1 through the stages; 30 -> 15, 15, 8, 4, 2; 22 -> 11, 11, 6, 3, 2.
CLIP = (2, 3, 7, 30, 22)
LABELS = (1, 3)
# torchvision's Kinetics-400 normalisation (VideoClassification preset).
MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)


def import_torchvision():
    """The venv installs torchvision without its Pillow dependency (setup_venv.sh, --no-deps), and
    `import torchvision` imports Pillow for its image I/O and transforms. The model code never
    touches it, so when Pillow is missing, PIL.* resolves to inert placeholder modules."""

    class Placeholder(types.ModuleType):
        __version__ = "0.0"

        def __init__(self, name):
            super().__init__(name)
            self.__path__ = []

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Placeholder(f"{self.__name__}.{name}")

        def __call__(self, *args, **kwargs):
            return Placeholder("call")

        def __mro_entries__(self, bases):
            return (object,)

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "PIL" or name.startswith("PIL."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            return Placeholder(spec.name)

        def exec_module(self, module):
            pass

    try:
        import PIL  # noqa: F401
    except ImportError:
        sys.meta_path.insert(0, Finder())
    import torchvision.models.video.resnet as resnet

    return resnet


R = import_torchvision()


class NarrowVideoResNet(R.VideoResNet):
    """torchvision's VideoResNet with stage widths `widths` instead of 64/128/256/512.

    VideoResNet hard-codes the widths in __init__ (`self.inplanes = 64`, `_make_layer(..., 64, ...)`,
    `nn.Linear(512, ...)`); everything else (blocks, R(2+1)D mid-planes, downsampling) derives from
    the `planes` that `_make_layer` receives, so translating that argument narrows the whole network.
    """

    def __init__(self, block, conv_makers, layers, stem, widths, num_classes):
        self._width = dict(zip((64, 128, 256, 512), widths))
        super().__init__(block, conv_makers, layers, stem, num_classes=num_classes)
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)

    def _make_layer(self, block, conv_builder, planes, blocks, stride=1):
        if planes == 64:
            # layer1 is built first; its input is the stem's output, widths[0] channels.
            self.inplanes = self._width[64]
        return super()._make_layer(block, conv_builder, self._width[planes], blocks, stride)


def basic_stem(width):
    """torchvision's BasicStem with `width` (64) output channels."""
    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(mid, width):
    """torchvision's R2Plus1dStem with `mid` (45) intermediate and `width` (64) output channels."""
    return nn.Sequential(
        nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def narrow(arch, widths, stem_mid, num_classes):
    if arch == "r3d_18":
        return NarrowVideoResNet(R.BasicBlock, [R.Conv3DSimple] * 4, [2, 2, 2, 2],
                                 lambda: basic_stem(widths[0]), widths, num_classes)
    return NarrowVideoResNet(R.BasicBlock, [R.Conv2Plus1D] * 4, [2, 2, 2, 2],
                             lambda: r2plus1d_stem(stem_mid, widths[0]), widths, num_classes)


def check_narrowing_is_faithful():
    """At torchvision's widths, the narrowed builder must be torchvision's model."""
    x = torch.rand(1, 3, 4, 20, 20)
    for arch, reference in (("r3d_18", R.r3d_18), ("r2plus1d_18", R.r2plus1d_18)):
        torch.manual_seed(0)
        ref = reference(num_classes=CLASSES).eval()
        ours = narrow(arch, (64, 128, 256, 512), 45, CLASSES).eval()
        a, b = ref.state_dict(), ours.state_dict()
        assert list(a) == list(b), f"{arch}: key lists differ"
        assert all(a[k].shape == b[k].shape for k in a), f"{arch}: shapes differ"
        ours.load_state_dict(a)
        with torch.no_grad():
            assert torch.equal(ref(x), ours(x)), f"{arch}: logits differ"


def standardise(x):
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1, 1)
    return (x - mean) / std


def main():
    check_narrowing_is_faithful()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(2024)
    x = torch.rand(*CLIP)
    labels = torch.tensor(LABELS)
    np.save(os.path.join(OUT, "x.npy"), x.numpy())
    np.save(os.path.join(OUT, "labels.npy"), labels.numpy().astype(np.float32))
    spec = {"widths": WIDTHS, "stem_mid": STEM_MID, "classes": CLASSES, "mean": MEAN, "std": STD,
            "clip": CLIP, "labels": LABELS, "torch": torch.__version__}
    with open(os.path.join(OUT, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")

    for arch in ("r3d_18", "r2plus1d_18"):
        out = os.path.join(OUT, arch)
        os.makedirs(out, exist_ok=True)
        model = randomise(narrow(arch, WIDTHS, STEM_MID, CLASSES), standardise(torch.rand(4, *CLIP[1:])), fc_weight=True)
        # num_batches_tracked (int64) stays in both files: real state dicts carry it.
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(out, "model.safetensors"))
        torch.save(state, os.path.join(out, "model.pt"))

        xt = x.clone().requires_grad_(True)
        logits = model(standardise(xt))
        loss = nn.functional.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xt)
        np.save(os.path.join(out, "logits.npy"), logits.detach().numpy())
        np.save(os.path.join(out, "grad.npy"), grad.numpy())
        params = sum(p.numel() for p in model.parameters())
        print(f"{arch}: {params} parameters, logits {logits.detach().numpy().round(3).tolist()}")
    print("wrote", os.path.abspath(OUT))


if __name__ == "__main__":
    main()
