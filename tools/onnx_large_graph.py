"""Issue 14's load-time and memory goals on a 100 MB graph: exports a 1-D CNN whose dense layer
holds 25.5 M parameters (102 MB of float32) and a batch of inputs, then measures PyTorch's peak
resident memory for one forward pass and input gradient of that batch in a fresh process.

    ~/.cache/avfoil-art-venv/bin/python tools/onnx_large_graph.py export /tmp/large
    ~/.cache/avfoil-art-venv/bin/python tools/onnx_large_graph.py torch-peak /tmp/large

`export` writes DIR/large.onnx, DIR/large.pt (the state_dict) and DIR/x.npy ([8, 1, 16000] uniform in
[-1, 1]). `torch-peak` prints one JSON line: the peak RSS of the process after importing torch (its
floor) and after the forward + backward, in MB. avfoil's side is measured with `/usr/bin/time -v`
around `avfoil inspect` (load) and `avfoil attack --attack fgm` (load, forward, input gradient).
"""
import json
import os
import resource
import sys

import numpy as np
import torch
import torch.nn as nn

BATCH, SAMPLES = 8, 16000


class Large(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 32, 80, stride=16)
        self.fc1 = nn.Linear(32 * 996, 800)
        self.fc2 = nn.Linear(800, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x)).flatten(1)
        return self.fc2(torch.relu(self.fc1(h)))


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(command, out):
    os.makedirs(out, exist_ok=True)
    if command == "export":
        torch.manual_seed(0)
        model = Large().eval()
        x = torch.rand(BATCH, 1, SAMPLES) * 2 - 1
        torch.save(model.state_dict(), os.path.join(out, "large.pt"))
        np.save(os.path.join(out, "x.npy"), x.numpy())
        torch.onnx.export(model, x[:1], os.path.join(out, "large.onnx"), input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                          opset_version=17, dynamo=False)
        size = os.path.getsize(os.path.join(out, "large.onnx")) / 1e6
        print(json.dumps({"onnx_mb": round(size, 1),
                          "parameters": sum(p.numel() for p in model.parameters())}))
    elif command == "torch-peak":
        torch.set_num_threads(2)
        floor = peak_mb()
        model = Large().eval()
        model.load_state_dict(torch.load(os.path.join(out, "large.pt")))
        x = torch.from_numpy(np.load(os.path.join(out, "x.npy"))).requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x), torch.zeros(BATCH, dtype=torch.long), reduction="sum")
        loss.backward()
        assert x.grad is not None
        print(json.dumps({"torch_import_peak_mb": round(floor), "peak_mb": round(peak_mb())}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(*sys.argv[1:3])
