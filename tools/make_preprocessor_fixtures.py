"""Reference outputs of the preprocessing defences (tests/preprocessors), from scipy, numpy and Pillow.

Run from the repository root with a venv holding numpy, scipy and Pillow:
    python3 -m venv ~/.cache/avfoil-preproc-venv
    ~/.cache/avfoil-preproc-venv/bin/pip install numpy scipy pillow
    ~/.cache/avfoil-preproc-venv/bin/python tools/make_preprocessor_fixtures.py
(made with numpy 2.4.6, scipy 1.17.1, Pillow 13.0.0).

Writes tests/fixtures/preprocessors/, every array float32:
  wave.npy                  1600 samples (0.2 s at 8 kHz, int16 units, shape (1, 1600)) of FSDD's
                            test recording 8_nicolas_0, from its loudest part
  lowpass_C_T.npy           scipy.signal.lfilter(firwin(T, C, fs=8000), 1, wave): ART's LFilter with
                            firwin taps, zero initial state
  bandpass_L_H_T.npy        the same with firwin(T, [L, H], pass_zero=False, fs=8000)
  moving_average_W.npy      scipy.ndimage.uniform_filter1d(wave, W, mode="reflect") (float64, then float32)
  median_W.npy              scipy.ndimage.median_filter(wave, size=(1, W), mode="reflect")
  bit_depth_B.npy           ART FeatureSqueezing(clip_values=(-32768, 32767), bit_depth=B) of wave, as
                            ART computes it (numpy, float32)
  resample_R.npy            scipy.signal.resample_poly down to R Hz and back up to 8 kHz (a different
                            filter from rubato's: compared by SNR)
  clip.npy                  a synthetic RGB clip (3, 4, 24, 32) in [0, 1], multiples of 1/255
  median_spatial_W.npy      ART SpatialSmoothing(window_size=W): scipy.ndimage.median_filter(clip,
                            size=(1, 1, W, W), mode="reflect")
  bit_depth_video_B.npy     FeatureSqueezing(clip_values=(0, 1), bit_depth=B) of clip
  jpeg_Q.npy                each frame through Pillow's JPEG at quality Q (4:2:0, ART's
                            JpegCompression; a different encoder from ours: compared by PSNR)
  jpeg_const_Q.npy          the same on a clip of one flat colour per frame
  clip_const.npy            that flat clip
"""
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage, signal
from scipy.io import wavfile

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "preprocessors"
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
RATE = 8000


def save(name, array):
    np.save(OUT / f"{name}.npy", np.asarray(array, dtype=np.float32))


def wave():
    rate, pcm = wavfile.read(FSDD / "8_nicolas_0.wav")
    assert rate == RATE and pcm.dtype == np.int16
    x = pcm.astype(np.float32)
    n = 1600
    energy = np.convolve(x.astype(np.float64) ** 2, np.ones(n), mode="valid")
    start = int(np.argmax(energy))
    return x[start : start + n].reshape(1, n)


def feature_squeezing(x, lo, hi, bits):
    """ART 1.20 FeatureSqueezing.__call__, line for line."""
    x_normalized = (x - lo) / (hi - lo)
    max_value = np.rint(2**bits - 1)
    res = np.rint(x_normalized * max_value) / max_value
    return res * (hi - lo) + lo


def audio():
    x = wave()
    save("wave", x)
    for cutoff, taps in [(1000, 31), (2500, 64)]:
        b = signal.firwin(taps, cutoff, fs=RATE)
        save(f"lowpass_{cutoff}_{taps}", signal.lfilter(b, [1.0], x, axis=-1))
    for lo, hi, taps in [(300, 3000, 101), (500, 1500, 40)]:
        b = signal.firwin(taps, [lo, hi], pass_zero=False, fs=RATE)
        save(f"bandpass_{lo}_{hi}_{taps}", signal.lfilter(b, [1.0], x, axis=-1))
    for w in [3, 4, 9]:
        save(f"moving_average_{w}", ndimage.uniform_filter1d(x.astype(np.float64), w, axis=-1, mode="reflect"))
    for w in [3, 4, 7]:
        save(f"median_{w}", ndimage.median_filter(x, size=(1, w), mode="reflect"))
    for bits in [4, 8]:
        save(f"bit_depth_{bits}", feature_squeezing(x, np.float32(-32768), np.float32(32767), bits))
    for low in [4000, 2000]:
        down = signal.resample_poly(x.astype(np.float64), low, RATE, axis=-1)
        up = signal.resample_poly(down, RATE, low, axis=-1)
        save(f"resample_{low}", up[:, : x.shape[1]])


def clip():
    rng = np.random.default_rng(18)
    c, t, h, w = 3, 4, 24, 32
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for f in range(t):
        base = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin((xx + 3 * f) / 4.0)])
        disc = ((xx - 10 - 4 * f) ** 2 + (yy - 12) ** 2) < 36
        base[:, disc] = [[0.9], [0.2], [0.1]]
        frames.append(base + rng.normal(0, 0.04, (c, h, w)))
    x = np.clip(np.stack(frames, axis=1), 0, 1)
    return np.round(x * 255) / 255


def pillow_jpeg(x, quality):
    out = np.empty_like(x)
    for f in range(x.shape[1]):
        rgb = np.round(np.transpose(x[:, f], (1, 2, 0)) * 255).astype(np.uint8)
        buf = BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=quality)
        back = np.asarray(Image.open(BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64)
        out[:, f] = np.transpose(back, (2, 0, 1)) / 255
    return out


def video():
    x = clip()
    save("clip", x)
    for w in [3, 4]:
        save(f"median_spatial_{w}", ndimage.median_filter(x.astype(np.float32), size=(1, 1, w, w), mode="reflect"))
    save("bit_depth_video_3", feature_squeezing(x.astype(np.float32), np.float32(0), np.float32(1), 3))
    for q in [50, 90]:
        save(f"jpeg_{q}", pillow_jpeg(x, q))
    colours = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [128 / 255, 64 / 255, 200 / 255], [0.2, 0.7, 0.4]])
    flat = np.round(np.broadcast_to(colours.T[:, :, None, None], (3, 4, 16, 16)) * 255) / 255
    save("clip_const", flat)
    save("jpeg_const_50", pillow_jpeg(flat, 50))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    audio()
    video()


if __name__ == "__main__":
    main()
