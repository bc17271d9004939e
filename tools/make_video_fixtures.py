"""Writes tests/fixtures/video/: ART's VideoCompression output on a tiny deterministic clip, the
golden file for the `ffmpeg` feature's x264 round trip (`avfoil::video::x264`).

- art_x264_in.npy:        int16 [12, 24, 32, 3], a moving RGB gradient with noise, values 0..255
- art_x264_crf30_out.npy: int16, ART's VideoCompression(video_format="mp4", constant_rate_factor=30)
- x264_bframes.mp4:       `bframes_clip()` through the ffmpeg CLI's libx264 (High profile, 3 B-frames,
                          CRF 16, 25 fps): what the pure-Rust MP4 reader must decode in display order.
                          tests/video_io.rs computes the same clip to compare against.
- x264_fragmented.mp4:    x264_bframes.mp4 remuxed by the ffmpeg CLI as a fragmented MP4 (`moof`/`trun`,
                          an empty `moov`): the same frames through the other half of the demuxer.
- x264_444.mp4:           the same clip as High 4:4:4 (yuv444p), which OpenH264 cannot decode: the
                          default build must say so, the `ffmpeg` build must fall back to FFmpeg.
- still_rgb.jpg, still_gray.jpg: 16 × 8 JPEGs (YCbCr 4:4:4 and greyscale) of `still_clip()`, made by
                          libjpeg-turbo's cjpeg at quality 95, for the frame-directory reader.

The clip is fed to ART as floats in 0..255 (max > 1, so ART's scale is 1 and its uint8 cast is
exact; in [0, 1] ART would multiply by 255 and truncate). At 32 × 24 x264's output does not depend
on its thread count (checked for threads 1, 2, 16 and auto), so the fixture holds on any machine.

Needs Debian's ffmpeg and libjpeg-turbo-progs (cjpeg) and the anchor venv (../shared/bench/setup_venv.sh):
    ~/.cache/avfoil-art-venv/bin/python tools/make_video_fixtures.py
"""
import os
import subprocess

import numpy as np
from art.defences.preprocessor import VideoCompression

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "video")


def clip():
    f, h, w = 12, 24, 32
    rng = np.random.default_rng(7)
    t, y, x = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
    rgb = np.stack([(x * 8 + t * 5) % 256, (y * 10 + t * 3) % 256, ((x + y + t) * 6) % 256], -1)
    noisy = rgb.astype(np.float64) + rng.normal(0, 12, (f, h, w, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def bframes_clip():
    """10 frames of 48 × 32: smooth gradients and a bright square moving 2 px a frame (integers,
    so the Rust test builds the identical clip; edges on even pixels, so that 4:2:0 chroma
    subsampling does not blur them and the frames can be compared tightly)."""
    f, h, w = 10, 32, 48
    t, y, x = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
    r = np.minimum(x * 4 + t * 6, 255)
    g = y * 6
    b = np.full_like(x, 96)
    square = (x >= 4 + 2 * t) & (x < 14 + 2 * t) & (y >= 10) & (y < 20)
    rgb = np.stack([np.where(square, 250, r), np.where(square, 240, g), np.where(square, 40, b)], -1)
    return rgb.astype(np.uint8)


def write_bframes_mp4(name="x264_bframes.mp4", pix_fmt="yuv420p"):
    x = bframes_clip()
    f, h, w, _ = x.shape
    path = os.path.join(OUT, name)
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{w}x{h}", "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-crf", "16",
        "-bf", "3", "-pix_fmt", pix_fmt, "-threads", "1", path,
    ]
    subprocess.run(cmd, input=x.tobytes(), check=True)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def write_fragmented_mp4(source="x264_bframes.mp4", name="x264_fragmented.mp4"):
    path = os.path.join(OUT, name)
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(OUT, source), "-c", "copy",
        "-movflags", "frag_keyframe+empty_moov", path,
    ]
    subprocess.run(cmd, check=True)
    print(f"wrote {path}: {os.path.getsize(path)} bytes")


def still_clip():
    """One 16 × 8 RGB frame of smooth gradients (integers, rebuilt in tests/video_io.rs)."""
    y, x = np.meshgrid(np.arange(8), np.arange(16), indexing="ij")
    return np.stack([x * 15, y * 30, 255 - x * 15], -1).astype(np.uint8)


def write_jpegs():
    x = still_clip()
    h, w, _ = x.shape
    ppm = b"P6\n%d %d\n255\n" % (w, h) + x.tobytes()
    for name, flags in [("still_rgb.jpg", ["-sample", "1x1"]), ("still_gray.jpg", ["-grayscale"])]:
        path = os.path.join(OUT, name)
        cmd = ["cjpeg", "-quality", "95", *flags, "-outfile", path]
        subprocess.run(cmd, input=ppm, check=True)
        print(f"wrote {path}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    x = clip()
    defence = VideoCompression(video_format="mp4", constant_rate_factor=30)
    y, _ = defence(x[None].astype(np.float32))
    y = y[0]
    assert y.shape == x.shape and np.all(y == np.round(y)) and y.min() >= 0 and y.max() <= 255
    np.save(os.path.join(OUT, "art_x264_in.npy"), x.astype(np.int16))
    np.save(os.path.join(OUT, "art_x264_crf30_out.npy"), y.astype(np.int16))
    diff = np.abs(y.astype(np.int32) - x.astype(np.int32))
    print(f"wrote {OUT}: mean |Δ| {diff.mean():.2f}, max {diff.max()}")
    write_bframes_mp4()
    write_fragmented_mp4()
    write_bframes_mp4("x264_444.mp4", "yuv444p")
    write_jpegs()


if __name__ == "__main__":
    main()
