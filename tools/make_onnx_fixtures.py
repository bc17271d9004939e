"""Writes tests/fixtures/onnx/: small PyTorch models exported to ONNX (random weights, batch-norm
statistics that are not the identity), with inputs, onnxruntime's logits and PyTorch's input
gradients, for the ONNX interpreter's parity tests (tests/onnx_parity.rs).

For each model NAME:
- NAME.onnx:        torch.onnx.export (TorchScript exporter, opset 17, dynamic batch axis)
- NAME.x.npy:       float32 [2, ...], the inputs
- NAME.logits.npy:  float32 [2, K], onnxruntime's outputs on them (checked against PyTorch's)
- NAME.grad.npy:    float32 [2, ...], d/dx of the summed cross-entropy at labels NAME.y (PyTorch)
- NAME.fgm.npy:      FGM (L-inf, eps 0.05) at those labels: x + eps · sign(grad)
- NAME.pgd.npy:      PGD (L-inf, eps 0.1, step 0.02, 10 steps, no random start) at those labels
- labels are [3, 1] for every model; no clipping (a bare ONNX file has no input range).

Also:
- cnn1d_softmax.onnx: cnn1d with a softmax on its output (a graph that ends in probabilities; its
                      model.toml says so, and its gradients must equal cnn1d's).
- unsupported.onnx:   x -> Cos -> Det: ops avfoil does not evaluate, for the error that names them.
- refused.onnx:       nodes onnx-ir reads but avfoil refuses at load (named, with the reason).
- dft17 (and the other graphs in HELPER_GRAPHS) are written node by node with onnx.helper, for op
  forms no exporter writes; a PyTorch twin of each gives the gradients and attacks.
stft_logmel must contain an STFT node and dft_spectro (dynamo exporter, opset 20) DFT nodes.

Needs the anchor venv (../shared/bench/setup_venv.sh: torch, onnx, onnxruntime):
    ~/.cache/avfoil-art-venv/bin/python tools/make_onnx_fixtures.py [NAME ...]
(names given: only those fixtures are rewritten)
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "onnx")
LABELS = [3, 1]


def randomise_batch_norm(model, gen):
    """Running statistics and affine parameters far from the identity, so that a wrong batch norm
    shows in the logits."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.25)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)


class Cnn1d(nn.Module):
    """A raw-waveform 1-D CNN: strided and dilated convolutions, a depthwise-separable block,
    batch norm, max and average pooling, three activations, a global mean, a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 9, stride=2, padding=4), nn.BatchNorm1d(8), nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1),
            nn.Conv1d(8, 8, 3, padding=1, groups=8), nn.Conv1d(8, 16, 1), nn.LeakyReLU(0.1),
            nn.AvgPool1d(2),
            nn.Conv1d(16, 16, 3, dilation=2, bias=False), nn.BatchNorm1d(16), nn.Tanh(),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=2))


class Cnn2d(nn.Module):
    """A 2-D CNN on a waveform folded into a [16, 64] plane inside the graph (Reshape), with
    sigmoid and hard-swish, 2-D max and average pooling, flatten and two linear layers."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 12, (3, 5), stride=(1, 2), padding=(1, 2)), nn.Sigmoid(),
            nn.AvgPool2d(2), nn.Conv2d(12, 8, 1), nn.Hardswish(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 8, 24), nn.ELU(), nn.Linear(24, 5))

    def forward(self, x):
        return self.head(self.features(x.reshape(x.shape[0], 1, 16, 64)))


class Cnn3d(nn.Module):
    """A small video 3-D CNN on [3, 4, 16, 16] clips: 3-D convolution, batch norm, 3-D max and
    average pooling, global average pooling, a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, 6, 3, padding=1), nn.BatchNorm3d(6), nn.ReLU(),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(6, 8, (2, 3, 3), padding=(0, 1, 1)), nn.ReLU(),
            nn.AvgPool3d((1, 2, 2)),
            nn.AdaptiveAvgPool3d(1),
        )
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Crnn(nn.Module):
    """A CRNN: reflect padding, a strided 1-D convolution, a bidirectional batch-first LSTM, the
    two directions split apart, the last and first time steps picked, every second feature kept
    (a strided Slice), a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 16, stride=8)
        self.lstm = nn.LSTM(8, 12, batch_first=True, bidirectional=True)
        self.head = nn.Linear(6, 7)

    def forward(self, x):
        x = nn.functional.pad(x, (8, 8), mode="reflect")
        x = torch.relu(self.conv(x)).transpose(1, 2)
        out, _ = self.lstm(x)
        forward, backward = out.split(12, dim=2)
        y = forward[:, -1] + backward[:, 0]
        return self.head(y[:, ::2])


class Attention(nn.Module):
    """Multi-head self-attention written out (so the exported ops are MatMul, Softmax, Transpose,
    Reshape, Div, whatever PyTorch's fused kernels would do)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.qkv, self.out = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(n, t, d))


class Transformer(nn.Module):
    """A small spectrogram-style transformer on a waveform cut into 16 tokens of 32 samples:
    token embedding, learned positions, pre-norm attention and GELU MLP blocks, mean pooling."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(32, 24)
        self.pos = nn.Parameter(torch.randn(1, 16, 24) * 0.1)
        self.norm1, self.att = nn.LayerNorm(24), Attention(24, 4)
        self.norm2 = nn.LayerNorm(24)
        self.mlp = nn.Sequential(nn.Linear(24, 48), nn.GELU(), nn.Linear(48, 24))
        self.head = nn.Linear(24, 6)

    def forward(self, x):
        h = self.embed(x.reshape(x.shape[0], 16, 32)) + self.pos
        h = h + self.att(self.norm1(h))
        h = h + self.mlp(self.norm2(h))
        return self.head(h.mean(dim=1))


class CrnnGru(nn.Module):
    """A CRNN with a GRU: strided convolution, a batch-first GRU, its last step, a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 6, 16, stride=8)
        self.gru = nn.GRU(6, 10, batch_first=True)
        self.head = nn.Linear(10, 5)

    def forward(self, x):
        out, _ = self.gru(torch.relu(self.conv(x)).transpose(1, 2))
        return self.head(out[:, -1])


class Norms(nn.Module):
    """Instance, group and layer normalisation and PReLU in a 2-D CNN on a folded waveform."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.prelu = nn.PReLU(4)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.gnorm = nn.GroupNorm(2, 6)
        self.lnorm = nn.LayerNorm([6, 8, 8])
        self.head = nn.Linear(6 * 8 * 8, 4)

    def forward(self, x):
        h = self.prelu(self.inorm(self.conv1(x.reshape(x.shape[0], 1, 16, 16))))
        h = self.lnorm(torch.relu(self.gnorm(self.conv2(h))))
        return self.head(h.flatten(1))


class X3dLike(nn.Module):
    """An X3D-style video block: channel expansion, depthwise 3-D convolution, squeeze-excite
    (global average pool, two 1x1x1 convolutions, sigmoid gate), 3-D average pooling with padding
    not counted, SiLU (Sigmoid·Mul), global pooling."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Conv3d(3, 8, 1)
        self.bn = nn.BatchNorm3d(8)
        self.depthwise = nn.Conv3d(8, 8, 3, padding=1, groups=8)
        self.se = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Conv3d(8, 4, 1), nn.ReLU(),
                                nn.Conv3d(4, 8, 1), nn.Sigmoid())
        self.pool = nn.AvgPool3d((2, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1),
                                 count_include_pad=False)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.expand(x)))
        h = self.depthwise(h)
        h = h * self.se(h)
        h = self.pool(h)
        h = h * torch.sigmoid(h)
        return self.head(h.mean(dim=(2, 3, 4)))


class M5(nn.Module):
    """M5 (Dai et al. 2017), the raw-waveform CNN of torchaudio's speech-command tutorial, at 32
    channels: an 80-tap stride-4 convolution, four conv/batch-norm/ReLU/max-pool stages, a
    global average, a linear head."""

    def __init__(self, channels=32, classes=10):
        super().__init__()
        c = channels
        layers = [nn.Conv1d(1, c, 80, stride=4), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(4)]
        for cin, cout in [(c, c), (c, 2 * c), (2 * c, 2 * c)]:
            layers += [nn.Conv1d(cin, cout, 3), nn.BatchNorm1d(cout), nn.ReLU(), nn.MaxPool1d(4)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c, classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=2))


class MatchboxNet(nn.Module):
    """A MatchboxNet-style keyword spotter (Majumdar & Ginsburg 2020) on 20 MFCC-like features by
    64 frames: a depthwise-separable prologue, three residual blocks of two depthwise-separable
    sub-blocks each (depthwise 1-D convolution, pointwise convolution, batch norm, ReLU, dropout;
    the residual through a pointwise convolution and batch norm), a dilated epilogue, a pointwise
    decoder to 12 classes and a global average over time."""

    def __init__(self, features=20, width=16, classes=12):
        super().__init__()

        def separable(cin, cout, k, dilation=1):
            return [nn.Conv1d(cin, cin, k, padding=dilation * (k - 1) // 2, dilation=dilation,
                              groups=cin, bias=False),
                    nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout)]

        self.prologue = nn.Sequential(*separable(features, width, 11), nn.ReLU())
        self.blocks = nn.ModuleList()
        self.residuals = nn.ModuleList()
        for k in (13, 15, 17):
            self.blocks.append(nn.ModuleList([
                nn.Sequential(*separable(width, width, k), nn.ReLU(), nn.Dropout(0.1)),
                nn.Sequential(*separable(width, width, k)),
            ]))
            self.residuals.append(nn.Sequential(nn.Conv1d(width, width, 1, bias=False),
                                                nn.BatchNorm1d(width)))
        self.epilogue = nn.Sequential(
            *separable(width, 2 * width, 29, dilation=2), nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 1), nn.BatchNorm1d(2 * width), nn.ReLU(),
            nn.Conv1d(2 * width, classes, 1),
        )

    def forward(self, x):
        h = self.prologue(x)
        for (first, second), residual in zip(self.blocks, self.residuals):
            h = torch.relu(second(first(h)) + residual(h))
        return self.epilogue(h).mean(dim=2)


def r2plus1d_18():
    """torchvision's r2plus1d_18 (random weights), narrowed as tools/make_video_resnet_fixtures.py
    narrows it (its stage widths and stem, checked there to reproduce torchvision exactly at the
    full widths), so that the file can be committed."""
    import make_video_resnet_fixtures as video
    return video.narrow("r2plus1d_18", video.WIDTHS, video.STEM_MID, video.CLASSES)


class LogMelCnn(nn.Module):
    """A log-mel CNN with its front end inside the graph: a short-time Fourier transform as a
    fixed convolution (cosine and sine kernels under a Hann window, hop 64), power, a fixed
    triangular filterbank as a matrix product, log, then a 2-D CNN."""

    def __init__(self, n_fft=128, hop=64, mels=16):
        super().__init__()
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float32)[:, None]
        t = torch.arange(n_fft, dtype=torch.float32)[None, :]
        window = torch.hann_window(n_fft, periodic=True)
        angle = 2 * torch.pi * k * t / n_fft
        kernels = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
        self.register_buffer("dft", kernels[:, None, :])
        self.hop, self.bins = hop, n_fft // 2 + 1
        edges = torch.linspace(0, self.bins - 1, mels + 2)
        bins = torch.arange(self.bins, dtype=torch.float32)[:, None]
        rise = (bins - edges[None, :-2]) / (edges[1:-1] - edges[:-2])[None, :]
        fall = (edges[None, 2:] - bins) / (edges[2:] - edges[1:-1])[None, :]
        self.register_buffer("mel", torch.clamp(torch.minimum(rise, fall), min=0))
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, 5))

    def forward(self, x):
        spec = nn.functional.conv1d(x, self.dft, stride=self.hop)
        power = spec[:, :self.bins] ** 2 + spec[:, self.bins:] ** 2
        logmel = torch.log(power.transpose(1, 2) @ self.mel + 1e-6)
        return self.cnn(logmel.unsqueeze(1))


class Decoder(nn.Module):
    """Upsampling and masking ops: transposed 1-D and 2-D convolutions, nearest and bilinear
    Resize, a leaky ramp written as Where(Greater), a positional ramp from Range (arange), Tile
    (repeat)."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose1d(4, 4, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)
        self.head = nn.Linear(3, 4)

    def forward(self, x):
        h = self.up1(x.reshape(x.shape[0], 4, 32))                     # [N, 4, 64]
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")  # [N, 4, 128]
        h = torch.where(h > 0, h, 0.2 * h)
        ramp = torch.arange(128, dtype=torch.float32) / 128.0
        h = h * ramp
        h = h.reshape(h.shape[0], 2, 16, 16)
        h = nn.functional.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        h = self.up2(h.repeat(1, 1, 1, 1)[:, :, ::2, ::2])               # [N, 3, 32, 32]
        h = h.repeat(1, 1, 2, 1)
        return self.head(h.mean(dim=(2, 3)))


class Bicubic(nn.Module):
    """Cubic Resize (ONNX's Keys kernel, a = -0.75, edge samples repeated): bicubic upsampling
    by 2 (half-pixel), bicubic to a fixed size with aligned corners, and a bicubic halving
    (no antialiasing), between small convolutions."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 4, 3, stride=2)
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.tanh(self.conv1(x.reshape(x.shape[0], 1, 12, 16)))
        h = nn.functional.interpolate(h, scale_factor=2, mode="bicubic", align_corners=False)
        h = nn.functional.interpolate(h, size=(17, 29), mode="bicubic", align_corners=True)
        h = nn.functional.interpolate(h, scale_factor=0.5, mode="bicubic", align_corners=False)
        return self.head(self.conv2(h).mean(dim=(2, 3)))


class StftLogMel(nn.Module):
    """A log-mel 2-D CNN whose front end is torch.stft (centred, reflect-padded, Hann window,
    exported as an ONNX STFT node), power, a fixed triangular filterbank, log."""

    def __init__(self, n_fft=128, hop=64, mels=16):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        bins = n_fft // 2 + 1
        edges = torch.linspace(0, bins - 1, mels + 2)
        k = torch.arange(bins, dtype=torch.float32)[:, None]
        rise = (k - edges[None, :-2]) / (edges[1:-1] - edges[:-2])[None, :]
        fall = (edges[None, 2:] - k) / (edges[2:] - edges[1:-1])[None, :]
        self.register_buffer("mel", torch.clamp(torch.minimum(rise, fall), min=0))
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, 5))

    def forward(self, x):
        spec = torch.stft(x.squeeze(1), self.n_fft, hop_length=self.hop, window=self.window,
                          center=True, return_complex=False)          # [N, bins, frames, 2]
        power = (spec ** 2).sum(-1).transpose(1, 2)                      # [N, frames, bins]
        logmel = torch.log(power @ self.mel + 1e-6)
        return self.cnn(logmel.unsqueeze(1))


class EinsumTransformer(nn.Module):
    """A small spectrogram-token transformer written with torch.einsum (exported as Einsum nodes):
    embedding `btf,fd->btd`, per-head projections `btd,hde->bhte`, scores `bhqe,bhke->bhqk`,
    mixing `bhqk,bhke->bhqe`, merging heads `bhqe,hed->bqd` (two summed labels), an MLP as
    `...d,de->...e` (ellipsis), a token score `...d,d->...` (ellipses of different widths),
    pooling `bqd->bd`, a gate `bd,d->bd`, an outer product `bi,bj->bij`, a bilinear form of
    three operands `bi,ij,bj->b`, a transposed head `cd->dc`, then `bd,dc` (implicit output)."""

    def __init__(self, tokens=16, width=32, dim=16, heads=4):
        super().__init__()
        e = dim // heads
        self.tokens, self.width, self.e = tokens, width, e
        self.embed = nn.Parameter(torch.randn(width, dim) / width ** 0.5)
        self.pos = nn.Parameter(torch.randn(tokens, dim) * 0.1)
        self.wq, self.wk, self.wv = (nn.Parameter(torch.randn(heads, dim, e) / dim ** 0.5)
                                     for _ in range(3))
        self.wo = nn.Parameter(torch.randn(heads, e, dim) / dim ** 0.5)
        self.mlp = nn.Parameter(torch.randn(dim, dim) / dim ** 0.5)
        self.gate = nn.Parameter(torch.rand(dim) + 0.5)
        self.head = nn.Parameter(torch.randn(5, dim + 16) * 0.2)
        self.score = nn.Parameter(torch.randn(dim) * 0.3)
        self.bilinear = nn.Parameter(torch.randn(4, 4) * 0.3)
        self.bilinear_out = nn.Parameter(torch.randn(5) * 0.3)

    def forward(self, x):
        t = x.reshape(x.shape[0], self.tokens, self.width)
        h = torch.einsum("btf,fd->btd", t, self.embed) + self.pos
        q = torch.einsum("btd,hde->bhte", h, self.wq)
        k = torch.einsum("btd,hde->bhte", h, self.wk)
        v = torch.einsum("btd,hde->bhte", h, self.wv)
        att = torch.softmax(torch.einsum("bhqe,bhke->bhqk", q, k) / self.e ** 0.5, dim=-1)
        mixed = torch.einsum("bhqk,bhke->bhqe", att, v)
        h = h + torch.einsum("bhqe,hed->bqd", mixed, self.wo)
        h = h + torch.tanh(torch.einsum("...d,de->...e", h, self.mlp))
        weights = torch.softmax(torch.einsum("...d,d->...", h, self.score), dim=1)   # [N, T]
        h = h * (1.0 + weights.unsqueeze(-1))
        pooled = torch.einsum("bqd->bd", h) / self.tokens
        gated = torch.einsum("bd,d->bd", pooled, self.gate)
        outer = torch.einsum("bi,bj->bij", gated[:, :4], gated[:, 4:8]).reshape(x.shape[0], 16)
        feats = torch.cat([gated, outer], dim=1)
        form = torch.einsum("bi,ij,bj->b", gated[:, :4], self.bilinear, gated[:, 4:8])
        logits = torch.einsum("bd,dc", feats, torch.einsum("cd->dc", self.head))
        return logits + form[:, None] * self.bilinear_out


class VideoUpsampler(nn.Module):
    """A 3-D transposed convolution (strides (1, 2, 2), padding, output_padding, two groups)
    then a 3-D convolution, pooling and a linear head, on [3, 4, 8, 8] clips."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose3d(4, 6, 3, stride=(1, 2, 2), padding=1,
                                     output_padding=(0, 1, 1), groups=2)
        self.mix = nn.Conv3d(3, 4, 1)
        self.conv = nn.Conv3d(6, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.up(self.mix(x)))        # [N, 6, 4, 16, 16]
        h = torch.relu(self.conv(h))
        return self.head(h.mean(dim=(2, 3, 4)))


class DftSpectro(nn.Module):
    """A spectrogram classifier written with torch.fft, which only the dynamo exporter exports
    (as DFT nodes, opset 20, the axis an input): a onesided real DFT of windowed frames, then a
    complex inverse DFT across frames (a modulation spectrum), magnitudes, log, a small CNN."""

    def __init__(self, frame=64):
        super().__init__()
        self.frame = frame
        self.register_buffer("window", torch.hann_window(frame))
        self.cnn = nn.Sequential(
            nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(6 * 4 * 16, 5))

    def forward(self, x):
        frames = x.reshape(x.shape[0], -1, self.frame) * self.window    # [N, 8, 64]
        spec = torch.fft.rfft(frames, dim=2)                             # [N, 8, 33]
        mod = torch.fft.ifft(spec, dim=1)                                # complex, across frames
        feats = torch.stack([torch.log(spec.abs() ** 2 + 1e-6),
                             torch.log(mod.abs() ** 2 + 1e-6)], dim=1)   # [N, 2, 8, 33]
        return self.cnn(feats[:, :, :, :32])


MODELS = [
    ("cnn1d", Cnn1d, (1, 400)),
    ("cnn2d", Cnn2d, (1, 1024)),
    ("cnn3d", Cnn3d, (3, 4, 16, 16)),
    ("crnn_lstm", Crnn, (1, 400)),
    ("crnn_gru", CrnnGru, (1, 400)),
    ("transformer", Transformer, (1, 512)),
    ("norms", Norms, (1, 256)),
    ("x3d_like", X3dLike, (3, 4, 12, 12)),
    ("m5", M5, (1, 8000)),
    ("logmel_cnn", LogMelCnn, (1, 1024)),
    ("decoder", Decoder, (1, 128)),
    ("stft_logmel", StftLogMel, (1, 1024)),
    ("dft_spectro", DftSpectro, (1, 512)),
    ("einsum_transformer", EinsumTransformer, (1, 512)),
    ("convtranspose3d", VideoUpsampler, (3, 4, 8, 8)),
    ("bicubic", Bicubic, (1, 192)),
    ("matchboxnet", MatchboxNet, (20, 64)),
    ("r2plus1d_18", r2plus1d_18, (3, 7, 30, 22)),
]

# What the exported graph must contain: a fixture for an op that the exporter silently replaced
# by others would test nothing.
MUST_CONTAIN = {"stft_logmel": "STFT", "dft_spectro": "DFT", "einsum_transformer": "Einsum",
                "convtranspose3d": "ConvTranspose", "bicubic": "Resize"}
# Models only the dynamo exporter exports (torch.fft); it writes the opset-20 forms.
DYNAMO = {"dft_spectro"}


def pgd(model, x, eps, step, steps):
    """L-inf PGD from x itself, projected onto the eps-ball after every step (ART's semantics)."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(adv), torch.tensor(LABELS), reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = x + (adv + step * grad.sign() - x).clamp(-eps, eps)
    return adv.detach()


class WithSoftmax(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.softmax(self.inner(x), dim=1)


def references(name, model, x, path):
    """Writes NAME.x/logits/grad/fgm/pgd.npy for the graph at `path`, whose PyTorch twin is
    `model`: onnxruntime's logits (checked against PyTorch's), PyTorch's gradients and attacks."""
    logits = ort.InferenceSession(path).run(None, {"x": x.numpy()})[0]
    xg = x.clone().requires_grad_(True)
    out = model(xg)
    assert np.allclose(out.detach().numpy(), logits, rtol=1e-4, atol=1e-5), name
    nn.functional.cross_entropy(out, torch.tensor(LABELS), reduction="sum").backward()
    np.save(os.path.join(OUT, f"{name}.x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, f"{name}.logits.npy"), logits.astype(np.float32))
    np.save(os.path.join(OUT, f"{name}.grad.npy"), xg.grad.numpy().astype(np.float32))
    np.save(os.path.join(OUT, f"{name}.fgm.npy"), (x + 0.05 * xg.grad.sign()).numpy())
    np.save(os.path.join(OUT, f"{name}.pgd.npy"), pgd(model, x, 0.1, 0.02, 10).numpy())
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"wrote {path}: {os.path.getsize(path)} bytes, ops {', '.join(ops)}")


def write(name, make, shape):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    torch.manual_seed(sum(map(ord, name)))
    model = make()
    with torch.no_grad():
        randomise_batch_norm(model, gen)
    model.eval()
    x = torch.rand((2, *shape), generator=gen) * 2 - 1
    path = os.path.join(OUT, f"{name}.onnx")
    if name in DYNAMO:
        torch.onnx.export(
            model, (x,), path, input_names=["x"], output_names=["logits"], opset_version=20,
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True,
            external_data=False,
        )
    else:
        torch.onnx.export(
            model, (x,), path, input_names=["x"], output_names=["logits"], opset_version=17,
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(path))
    if name in MUST_CONTAIN:
        assert MUST_CONTAIN[name] in {n.op_type for n in onnx.load(path).graph.node}, name
    references(name, model, x, path)
    return model, x


def helper_model(name, nodes, initialisers, x_shape, opset):
    """A graph written node by node with onnx.helper: input x [batch, ...], output logits."""
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *x_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", None])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initialisers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, f"{name}.onnx")
    onnx.save(model, path)
    return path


class Dft17(nn.Module):
    """PyTorch's twin of the dft17 graph: a onesided real DFT zero-padded to 80 samples along
    the frame axis, a complex inverse DFT across frames, and a full DFT truncated to 48
    samples plus an inverse DFT of the real frames (their first 48 samples) across frames;
    log(1 + power) of both, a linear head."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        z = torch.fft.rfft(x.reshape(x.shape[0], 8, 64), n=80, dim=2)
        z = torch.fft.ifft(z, dim=1)
        power = z.real ** 2 + z.imag ** 2
        cut = torch.fft.fft(x.reshape(x.shape[0], 8, 64), n=48, dim=2)
        cut = cut + torch.fft.ifft(x.reshape(x.shape[0], 8, 64)[:, :, :48], dim=1)
        power_cut = cut.real ** 2 + cut.imag ** 2
        feats = torch.cat([torch.log(power + 1.0).reshape(x.shape[0], -1),
                           torch.log(power_cut + 1.0).reshape(x.shape[0], -1)], dim=1)
        return feats @ self.w + self.b


def write_dft17():
    """DFT in its opset-17 form (axis and inverse as attributes, dft_length an input), written
    with onnx.helper: the dynamo exporter writes opset 20 and the TorchScript one no DFT."""
    from onnx import helper
    name = "dft17"
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    w = torch.randn(8 * 41 + 8 * 48, 5, generator=gen) * 0.05
    b = torch.randn(5, generator=gen) * 0.1
    nodes = [
        helper.make_node("Reshape", ["x", "frames_shape"], ["frames"]),
        helper.make_node("DFT", ["frames", "dft_length"], ["spec"], axis=2, onesided=1),
        helper.make_node("DFT", ["spec"], ["mod"], axis=1, inverse=1),
        helper.make_node("Mul", ["mod", "mod"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "last_axis"], ["power"], keepdims=0),
        helper.make_node("Add", ["power", "eps"], ["floored"]),
        helper.make_node("Log", ["floored"], ["logpower"]),
        helper.make_node("Reshape", ["logpower", "flat_shape"], ["flat_long"]),
        helper.make_node("DFT", ["frames", "cut_length"], ["cut_forward"], axis=2),
        helper.make_node("Slice", ["frames", "zero", "end48", "two"], ["first48"]),
        helper.make_node("DFT", ["first48"], ["cut_inverse"], axis=1, inverse=1),
        helper.make_node("Add", ["cut_forward", "cut_inverse"], ["cut"]),
        helper.make_node("Mul", ["cut", "cut"], ["cut_squares"]),
        helper.make_node("ReduceSum", ["cut_squares", "last_axis"], ["cut_power"], keepdims=0),
        helper.make_node("Add", ["cut_power", "eps"], ["cut_floored"]),
        helper.make_node("Log", ["cut_floored"], ["cut_log"]),
        helper.make_node("Reshape", ["cut_log", "flat_shape"], ["flat_cut"]),
        helper.make_node("Concat", ["flat_long", "flat_cut"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
    ]
    init = {
        "frames_shape": np.array([0, 8, 64, 1], np.int64),
        "dft_length": np.array(80, np.int64),
        "cut_length": np.array(48, np.int64),
        "zero": np.array([0], np.int64),
        "two": np.array([2], np.int64),
        "end48": np.array([48], np.int64),
        "last_axis": np.array([3], np.int64),
        "eps": np.array(1.0, np.float32),
        "flat_shape": np.array([0, -1], np.int64),
        "w": w.numpy(), "b": b.numpy(),
    }
    path = helper_model(name, nodes, init, [512], 17)
    x = torch.rand((2, 512), generator=gen) * 2 - 1
    references(name, Dft17(w, b).eval(), x, path)


def mel_weight_matrix(mels, dft, rate, lower, upper):
    """ONNX's reference MelWeightMatrix (onnx.reference), float32 like onnxruntime's."""
    from onnx.reference.ops.op_mel_weight_matrix import MelWeightMatrix
    return MelWeightMatrix._run(None, np.int64(mels), np.int64(dft), np.int64(rate),
                                np.float32(lower), np.float32(upper))[0]


class MelSpec17(nn.Module):
    """PyTorch's twin of the melspec17 graph: an uncentred STFT (Hann window, frames of 64 every
    32), power, the ONNX mel filterbank, log; a second, two-sided STFT without a window
    (rectangular), its mean power per frame, log; a linear head."""

    def __init__(self, window, mel, w, b):
        super().__init__()
        self.register_buffer("window", window)
        self.register_buffer("mel", mel)
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        z = torch.stft(x.reshape(x.shape[0], -1), 64, hop_length=32, window=self.window,
                       center=False, return_complex=True)             # [N, 33, frames]
        power = (z.real ** 2 + z.imag ** 2).transpose(1, 2)
        logmel = torch.log(power @ self.mel + 1e-2)
        z2 = torch.stft(x.reshape(x.shape[0], -1), 64, hop_length=32, window=None,
                        center=False, onesided=False, return_complex=True)
        level = torch.log((z2.real ** 2 + z2.imag ** 2).mean(dim=1) + 1e-2)  # [N, frames]
        return torch.cat([logmel.reshape(x.shape[0], -1), level], dim=1) @ self.w + self.b


def write_melspec17():
    """STFT (signal [N, L, 1], window and frame_length inputs; a second, two-sided one without a
    window)
    and MelWeightMatrix written with onnx.helper (PyTorch exports neither MelWeightMatrix nor
    this STFT form)."""
    from onnx import helper
    name = "melspec17"
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    frames, mels = 1 + (512 - 64) // 32, 8
    w = torch.randn(frames * mels + frames, 5, generator=gen) * 0.05
    b = torch.randn(5, generator=gen) * 0.1
    window = torch.hann_window(64)
    mel_args = (mels, 64, 8000, 60.0, 3800.0)
    nodes = [
        helper.make_node("STFT", ["x", "frame_step", "window", "frame_length"], ["spec"],
                         onesided=1),
        helper.make_node("Mul", ["spec", "spec"], ["squares"]),
        helper.make_node("ReduceSum", ["squares", "last_axis"], ["power"], keepdims=0),
        helper.make_node("MelWeightMatrix", ["num_mel_bins", "dft_length", "sample_rate",
                                             "lower_edge_hertz", "upper_edge_hertz"], ["mel"]),
        helper.make_node("MatMul", ["power", "mel"], ["melpower"]),
        helper.make_node("Add", ["melpower", "eps"], ["floored"]),
        helper.make_node("Log", ["floored"], ["logmel"]),
        helper.make_node("Reshape", ["logmel", "flat_shape"], ["flat_mel"]),
        helper.make_node("STFT", ["x", "frame_step", "", "frame_length"], ["rect"], onesided=0),
        helper.make_node("Mul", ["rect", "rect"], ["rect_squares"]),
        helper.make_node("ReduceSum", ["rect_squares", "last_axis"], ["rect_power"],
                         keepdims=0),
        helper.make_node("ReduceMean", ["rect_power"], ["level"], axes=[2], keepdims=0),
        helper.make_node("Add", ["level", "eps"], ["level_floored"]),
        helper.make_node("Log", ["level_floored"], ["log_level"]),
        helper.make_node("Concat", ["flat_mel", "log_level"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
    ]
    init = {
        "frame_step": np.array(32, np.int64),
        "window": window.numpy(),
        "frame_length": np.array(64, np.int64),
        "last_axis": np.array([3], np.int64),
        "num_mel_bins": np.array(mel_args[0], np.int64),
        "dft_length": np.array(mel_args[1], np.int64),
        "sample_rate": np.array(mel_args[2], np.int64),
        "lower_edge_hertz": np.array(mel_args[3], np.float32),
        "upper_edge_hertz": np.array(mel_args[4], np.float32),
        "eps": np.array(1e-2, np.float32),
        "flat_shape": np.array([0, -1], np.int64),
        "w": w.numpy(), "b": b.numpy(),
    }
    path = helper_model(name, nodes, init, [512, 1], 17)
    mel = torch.from_numpy(mel_weight_matrix(*mel_args))
    x = torch.rand((2, 512, 1), generator=gen) * 2 - 1
    references(name, MelSpec17(window, mel, w, b).eval(), x, path)


class Masks17(nn.Module):
    """PyTorch's twin of the masks17 graph: a mask from two comparisons joined by And, Where on
    it, and a per-example mean whose divisor is Size(x) / batch."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        both = (x > 0) & (x < 0.5)
        gated = torch.where(both, x, 0.1 * x)
        mean = gated.sum(dim=1, keepdim=True) / x[0].numel()
        return nn.functional.linear(torch.cat([gated, mean], 1), self.w, self.b)


def write_masks17():
    """And on two comparison masks, and Size (with Shape, Gather, Div and Cast: the elements per
    example), written with onnx.helper: no exporter writes And or Size for a small model."""
    from onnx import TensorProto, helper
    name = "masks17"
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    w = torch.randn(4, 17, generator=gen) * 0.3
    b = torch.randn(4, generator=gen) * 0.1
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["positive"]),
        helper.make_node("Less", ["x", "half"], ["small"]),
        helper.make_node("And", ["positive", "small"], ["both"]),
        helper.make_node("Mul", ["x", "tenth"], ["damped"]),
        helper.make_node("Where", ["both", "x", "damped"], ["gated"]),
        helper.make_node("Size", ["x"], ["elements"]),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "axis0"], ["batch"], axis=0),
        helper.make_node("Div", ["elements", "batch"], ["per_example"]),
        helper.make_node("Cast", ["per_example"], ["count"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["gated", "axis1"], ["total"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["mean"]),
        helper.make_node("Concat", ["gated", "mean"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", "w", "b"], ["logits"], transB=1),
    ]
    init = {
        "zero": np.array(0.0, np.float32), "half": np.array(0.5, np.float32),
        "tenth": np.array(0.1, np.float32), "axis0": np.array(0, np.int64),
        "axis1": np.array([1], np.int64), "w": w.numpy(), "b": b.numpy(),
    }
    path = helper_model(name, nodes, init, [16], 17)
    x = torch.rand((2, 16), generator=gen) * 2 - 1
    references(name, Masks17(w, b).eval(), x, path)


class IfConst(nn.Module):
    """PyTorch's twin of the if_const graph: the branches its constant conditions take."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        h = torch.relu(x * 2.0)          # the first If's then branch
        h = torch.tanh(h) * 0.5           # the second If's else branch
        return h @ self.w + self.b


def write_if_const():
    """Two If nodes on constant conditions (an initialiser true, a Constant false), whose
    branches read outer values (x, h, an outer initialiser), as exporters write for flags fixed
    at export; written with onnx.helper (TorchScript folds Python conditions away)."""
    from onnx import TensorProto, helper
    name = "if_const"
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    w = torch.randn(64, 5, generator=gen) * 0.3
    b = torch.randn(5, generator=gen) * 0.1
    out = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
    then1 = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["doubled"]),
                               helper.make_node("Relu", ["doubled"], ["then1_out"])],
                              "then1", [], [out("then1_out")])
    else1 = helper.make_graph([helper.make_node("Neg", ["x"], ["else1_out"])],
                              "else1", [], [out("else1_out")])
    then2 = helper.make_graph([helper.make_node("Sigmoid", ["h"], ["then2_out"])],
                              "then2", [], [out("then2_out")])
    else2 = helper.make_graph([helper.make_node("Tanh", ["h"], ["squashed"]),
                               helper.make_node("Mul", ["squashed", "half"], ["else2_out"])],
                              "else2", [], [out("else2_out")])
    nodes = [
        helper.make_node("If", ["flag_on"], ["h"], name="if_on", then_branch=then1,
                         else_branch=else1),
        helper.make_node("Constant", [], ["flag_off"],
                         value=helper.make_tensor("v", TensorProto.BOOL, [], [False])),
        helper.make_node("If", ["flag_off"], ["g"], name="if_off", then_branch=then2,
                         else_branch=else2),
        helper.make_node("Gemm", ["g", "w", "b"], ["logits"]),
    ]
    init = {"flag_on": np.array(True), "two": np.array(2.0, np.float32),
            "half": np.array(0.5, np.float32), "w": w.numpy(), "b": b.numpy()}
    path = helper_model(name, nodes, init, [64], 17)
    x = torch.rand((2, 64), generator=gen) * 2 - 1
    references(name, IfConst(w, b).eval(), x, path)


class LinearMap(nn.Module):
    """PyTorch's twin of a graph that is linear up to its head: x @ m, then a linear head."""

    def __init__(self, m, w, b):
        super().__init__()
        self.register_buffer("m", m)
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        return (x @ self.m) @ self.w + self.b


def write_cubic_a():
    """A cubic Resize PyTorch cannot export: cubic_coeff_a = -0.5 (TensorFlow's), scales 1.5 and
    2 (half-pixel). Resize is linear, so its twin is the matrix onnxruntime gives on the unit
    vectors. (exclude_outside = 1 is refused by onnx-ir when it reads the file.)"""
    from onnx import helper
    name = "cubic_a"
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    w = torch.randn((12 * 16, 4), generator=gen) * 0.1
    b = torch.randn(4, generator=gen) * 0.1
    nodes = [
        helper.make_node("Reshape", ["x", "image"], ["img"]),
        helper.make_node("Resize", ["img", "", "scales"], ["big"], mode="cubic",
                         cubic_coeff_a=-0.5,
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Reshape", ["big", "flat_shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
    ]
    init = {"image": np.array([-1, 1, 8, 8], np.int64),
            "scales": np.array([1, 1, 1.5, 2], np.float32),
            "flat_shape": np.array([0, -1], np.int64), "w": w.numpy(), "b": b.numpy()}
    path = helper_model(name, nodes, init, [64], 17)
    # The resize alone, on the 64 unit vectors: its matrix.
    probe_nodes = nodes[:2] + [helper.make_node("Reshape", ["big", "flat_shape"], ["logits"])]
    probe = helper_model(name + "_probe", probe_nodes,
                         {k: init[k] for k in ("image", "scales", "flat_shape")}, [64], 17)
    m = ort.InferenceSession(probe).run(None, {"x": np.eye(64, dtype=np.float32)})[0]
    os.remove(probe)
    x = torch.rand((2, 64), generator=gen) * 2 - 1
    references(name, LinearMap(torch.from_numpy(m), w, b).eval(), x, path)


def write_refused():
    """Nodes onnx-ir reads but avfoil refuses when the graph loads, for the error that names each
    node and why: an Einsum with a repeated label (a trace), an If on a computed condition."""
    from onnx import TensorProto, helper
    nodes = [
        helper.make_node("Reshape", ["x", "square"], ["m"]),
        helper.make_node("Einsum", ["m"], ["logits"], name="the_trace", equation="bii->b"),
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero"], ["positive"]),
        helper.make_node("If", ["positive"], ["signed"], name="data_dependent_if",
                         then_branch=helper.make_graph(
                             [helper.make_node("Identity", ["x"], ["kept"])], "then", [],
                             [helper.make_tensor_value_info("kept", TensorProto.FLOAT, None)]),
                         else_branch=helper.make_graph(
                             [helper.make_node("Neg", ["x"], ["negated"])], "else", [],
                             [helper.make_tensor_value_info("negated", TensorProto.FLOAT, None)])),
    ]
    graph = helper.make_graph(
        nodes, "refused",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch"]),
         helper.make_tensor_value_info("signed", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor("square", TensorProto.INT64, [3], [0, 4, 4]),
         helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, "refused.onnx")
    onnx.save(model, path)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


HELPER_GRAPHS = {"dft17": write_dft17, "melspec17": write_melspec17, "if_const": write_if_const,
                 "cubic_a": write_cubic_a, "refused": write_refused, "masks17": write_masks17}


def write_softmax(model, x):
    path = os.path.join(OUT, "cnn1d_softmax.onnx")
    torch.onnx.export(
        WithSoftmax(model), (x,), path, input_names=["x"], output_names=["probabilities"],
        opset_version=17, dynamic_axes={"x": {0: "batch"}, "probabilities": {0: "batch"}},
        dynamo=False,
    )
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def write_unsupported():
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Cos", ["x"], ["c"], name="the_cos"),
         helper.make_node("Det", ["c"], ["y"], name="the_det")],
        "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = os.path.join(OUT, "unsupported.onnx")
    onnx.save(model, path)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def main(only):
    """Writes every fixture, or only those named on the command line."""
    os.makedirs(OUT, exist_ok=True)
    for name, make, shape in MODELS:
        if only and name not in only:
            continue
        model, x = write(name, make, shape)
        if name == "cnn1d":
            write_softmax(model, x)
    for name, make in HELPER_GRAPHS.items():
        if not only or name in only:
            make()
    if not only or "unsupported" in only:
        write_unsupported()


if __name__ == "__main__":
    main(set(sys.argv[1:]))
