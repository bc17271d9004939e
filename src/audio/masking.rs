//! The frequency masking threshold of a clip (Qin et al., ICML 2019, after Lin and Abdulla 2015):
//! per STFT frame and frequency bin, the level below which a quiet sound is hidden by the clip's
//! own loud components. The psychoacoustic attack ([`crate::attack::psychoacoustic`]) keeps its
//! perturbation under it; [`Threshold::fraction_below`] measures how much of a perturbation is.
//!
//! The computation is ART's `PsychoacousticMasker` (ART 1.20), step by step:
//!
//! 1. STFT with a periodic Hann window, no padding (frames start at 0, hop, 2·hop, … while a whole
//!    window fits); PSD = 20·log10|√(8/3)·X/N| dB, floored at −200 dB; the whole clip is then
//!    normalised so that its loudest bin (over all frames) is at 96 dB, as if played back at
//!    96 dB SPL. That maximum before normalising, `psd_max`, is kept: the perturbation's PSD is
//!    normalised by the same amount, so a quiet stretch of the clip masks little.
//! 2. Maskers: the strict local maxima of each frame's PSD, each smoothed with its two neighbours
//!    (their powers summed). As in ART and Qin et al., every masker is treated as tonal: the
//!    MPEG-1 model's test that a tonal masker exceeds its Bark-dependent neighbourhood by 7 dB,
//!    and its non-tonal maskers, are left out.
//! 3. Maskers at or below the absolute threshold of hearing (ATH, Terhardt's formula; −∞ outside
//!    20 Hz–20 kHz, where it neither drops maskers nor adds to the threshold) are dropped, then of
//!    two maskers closer than 0.5 Bark the smaller one.
//! 4. Each masker spreads with the two-slope function (27 dB/Bark below it,
//!    27 − 0.37·max(P − 40, 0) dB/Bark above) shifted down by 6.025 + 0.275·z dB; the global
//!    threshold is the power sum of every spread masker and the ATH.
//!
//! Where ART slips: its 0.5-Bark filter compares the Bark values of the maskers' *positions in
//! the list* (`bark[i]`) instead of their frequency bins (`bark[masker_idx[i]]`), so it drops
//! nearly every masker that follows a kept one within a few list entries, whatever their
//! frequencies; and after dropping the earlier of a pair it moves on to the entry after it,
//! which may be one already dropped. avfoil compares the bins' Bark values and keeps the larger
//! masker as the new reference; [`Masker::art_compatible`] reproduces ART's filter, for the test
//! against ART's own output only.

use crate::error::{Error, Result};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// 96 dB: the level the clip's loudest bin is normalised to.
const REFERENCE_DB: f64 = 96.0;

/// The PSD's floor before normalising (ART clips at −200 dB, which keeps silence finite).
const FLOOR_DB: f64 = -200.0;

/// The power gain of the Hann window, folded into the PSD (as ART and Qin et al.).
const GAIN: f64 = 8.0 / 3.0;

/// The psychoacoustic model for one window, hop and sample rate.
#[derive(Clone)]
pub struct Masker {
    window: usize,
    hop: usize,
    sample_rate: u32,
    hann: Vec<f64>,
    bark: Vec<f64>,
    ath: Vec<f64>,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    art_filter: bool,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("window", &self.window)
            .field("hop", &self.hop)
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

/// The default window for a sample rate: the power of two nearest 64 ms (512 samples at 8 kHz,
/// 1024 at 16 kHz). ART's 2048 at 16 kHz (128 ms) gives a one-second clip only 4 frames with a
/// hop of 2048/4 = 512; 64 ms still resolves the harmonics of a voice (15.6 Hz bins at 8 kHz).
pub fn default_window(sample_rate: u32) -> usize {
    let target = f64::from(sample_rate) * 0.064;
    let below = 2f64.powf(target.log2().floor());
    let n = if target / below < 2f64.sqrt() {
        below
    } else {
        below * 2.0
    };
    (n as usize).max(16)
}

impl Masker {
    /// The model for frames of `window` samples every `hop` samples at `sample_rate` Hz.
    pub fn new(window: usize, hop: usize, sample_rate: u32) -> Result<Self> {
        if window < 16 || !window.is_multiple_of(2) {
            return Err(Error::invalid(
                "window",
                format!("an even number of samples, at least 16, got {window}"),
            ));
        }
        if hop == 0 || hop > window {
            return Err(Error::invalid(
                "hop",
                format!("between 1 and the window ({window} samples), got {hop}"),
            ));
        }
        crate::audio::check_sample_rate(sample_rate)
            .map_err(|e| Error::invalid("sample_rate", e))?;
        let bins = window / 2 + 1;
        let freq: Vec<f64> = (0..bins)
            .map(|k| k as f64 * f64::from(sample_rate) / window as f64)
            .collect();
        let bark = freq
            .iter()
            .map(|f| 13.0 * (0.00076 * f).atan() + 3.5 * (f / 7500.0).powi(2).atan())
            .collect();
        let ath = freq
            .iter()
            .map(|&f| {
                if (20.0..=20_000.0).contains(&f) {
                    let k = f * 0.001;
                    3.64 * k.powf(-0.8) - 6.5 * (-0.6 * (k - 3.3).powi(2)).exp() + 0.001 * k.powi(4)
                        - 12.0
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let hann = (0..window)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / window as f64).cos())
            .collect();
        let mut planner = RealFftPlanner::<f64>::new();
        Ok(Self {
            window,
            hop,
            sample_rate,
            hann,
            bark,
            ath,
            forward: planner.plan_fft_forward(window),
            inverse: planner.plan_fft_inverse(window),
            art_filter: false,
        })
    }

    /// The model with the default window for `sample_rate` (the power of two nearest 64 ms) and a
    /// hop of a quarter of it: what the reports measure every perturbation with.
    pub fn for_rate(sample_rate: u32) -> Result<Self> {
        let window = default_window(sample_rate);
        Self::new(window, window / 4, sample_rate)
    }

    /// The same model with ART's 0.5-Bark masker filter, slips included (see the module docs):
    /// for comparing with ART's output, not for attacks.
    pub fn art_compatible(mut self) -> Self {
        self.art_filter = true;
        self
    }

    /// Samples per frame.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Samples between frames.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frequency bins per frame, `window / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.window / 2 + 1
    }

    /// Frames of a clip of `len` samples (0 when shorter than the window).
    pub fn frames(&self, len: usize) -> usize {
        if len < self.window {
            0
        } else {
            1 + (len - self.window) / self.hop
        }
    }

    /// The one-sided DFT of every frame of `signal`, frame-major (`frames × bins`).
    fn stft(&self, signal: &[f32]) -> Vec<Complex<f64>> {
        let (frames, bins) = (self.frames(signal.len()), self.bins());
        let mut input = self.forward.make_input_vec();
        let mut spectrum = self.forward.make_output_vec();
        let mut scratch = self.forward.make_scratch_vec();
        let mut out = Vec::with_capacity(frames * bins);
        for f in 0..frames {
            let start = f * self.hop;
            for (n, v) in input.iter_mut().enumerate() {
                *v = self.hann[n] * f64::from(signal[start + n]);
            }
            self.forward
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers sized by the plan");
            out.extend_from_slice(&spectrum);
        }
        out
    }

    /// The PSD of each frame normalised so that the clip's loudest bin is at 96 dB (`frames ×
    /// bins`, frame-major) and that maximum before normalising (dB), as ART's
    /// `power_spectral_density`.
    pub fn power_spectral_density(&self, audio: &[f32]) -> (Vec<f64>, f64) {
        let n = self.window as f64;
        let mut psd: Vec<f64> = self
            .stft(audio)
            .iter()
            .map(|x| (10.0 * (GAIN * x.norm_sqr() / (n * n)).log10()).max(FLOOR_DB))
            .collect();
        let max = psd.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for v in psd.iter_mut() {
            *v += REFERENCE_DB - max;
        }
        (psd, max)
    }

    /// The masking threshold of `audio`: ART's `calculate_threshold_and_psd_maximum`. An error if
    /// the clip is shorter than one window.
    pub fn threshold(&self, audio: &[f32]) -> Result<Threshold> {
        let frames = self.frames(audio.len());
        if frames == 0 {
            return Err(Error::invalid(
                "window",
                format!(
                    "{} samples is longer than the clip ({} samples)",
                    self.window,
                    audio.len()
                ),
            ));
        }
        let (psd, psd_max) = self.power_spectral_density(audio);
        let bins = self.bins();
        let mut threshold = Vec::with_capacity(frames * bins);
        for frame in psd.chunks(bins) {
            threshold.extend(self.frame_threshold(frame));
        }
        Ok(Threshold {
            frames,
            bins,
            len: audio.len(),
            threshold,
            psd_max,
        })
    }

    /// The global threshold of one normalised PSD frame (dB per bin).
    fn frame_threshold(&self, psd: &[f64]) -> Vec<f64> {
        let bins = psd.len();
        // Maskers: strict local maxima (scipy's argrelmax), smoothed with their neighbours.
        let mut idx = Vec::new();
        let mut level = Vec::new();
        for k in 1..bins.saturating_sub(1) {
            if psd[k] > psd[k - 1] && psd[k] > psd[k + 1] {
                let power: f64 = (k - 1..=k + 1).map(|j| 10f64.powf(psd[j] / 10.0)).sum();
                let smoothed = 10.0 * power.log10();
                // Above the absolute threshold of hearing only.
                if smoothed > self.ath[k] {
                    idx.push(k);
                    level.push(smoothed);
                }
            }
        }
        let keep = self.bark_filter(&idx, &level);
        let mut total: Vec<f64> = self.ath.iter().map(|a| 10f64.powf(a / 10.0)).collect();
        for ((&m, &p), _) in idx.iter().zip(&level).zip(&keep).filter(|(_, k)| **k) {
            let z = self.bark[m];
            let shift = -6.025 - 0.275 * z;
            let upper = -27.0 + 0.37 * (p - 40.0).max(0.0);
            for (t, &zk) in total.iter_mut().zip(&self.bark) {
                let dz = zk - z;
                let spread = if dz <= 0.0 { 27.0 * dz } else { upper * dz };
                *t += 10f64.powf((p + shift + spread) / 10.0);
            }
        }
        total.iter().map(|t| 10.0 * t.log10()).collect()
    }

    /// Which maskers survive the 0.5-Bark filter: of two closer than 0.5 Bark, the larger.
    fn bark_filter(&self, idx: &[usize], level: &[f64]) -> Vec<bool> {
        let mut keep = vec![true; idx.len()];
        let mut prev = 0;
        for i in 1..idx.len() {
            let distance = if self.art_filter {
                self.bark[i] - self.bark[prev]
            } else {
                self.bark[idx[i]] - self.bark[idx[prev]]
            };
            if distance < 0.5 {
                if level[prev] < level[i] {
                    keep[prev] = false;
                    prev = if self.art_filter { prev + 1 } else { i };
                } else {
                    keep[i] = false;
                }
            } else {
                prev = i;
            }
        }
        keep
    }
}

/// A clip's masking threshold: what a perturbation of it is measured against.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// STFT frames.
    pub frames: usize,
    /// Frequency bins per frame.
    pub bins: usize,
    /// Samples in the clip.
    pub len: usize,
    /// dB per frame and bin (frame-major; −∞ in a bin below 20 Hz that no masker reaches).
    pub threshold: Vec<f64>,
    /// The clip's PSD maximum before normalising, dB.
    pub psd_max: f64,
}

impl Threshold {
    /// The perturbation's PSD in the clip's normalisation with the `10·log10` undone (ART's
    /// "stabilised" PSD, `10^9.6 / 10^(psd_max/10) · (8/3)·|Δ/N|²`), frame-major, with the DFT it
    /// came from.
    fn perturbation_psd(&self, masker: &Masker, delta: &[f32]) -> (Vec<f64>, Vec<Complex<f64>>) {
        let spectrum = masker.stft(delta);
        let n = masker.window as f64;
        let scale = self.psd_scale(n);
        let psd = spectrum.iter().map(|x| scale * x.norm_sqr()).collect();
        (psd, spectrum)
    }

    /// `|X|²` to the stabilised normalised PSD: `10^((96 − psd_max)/10) · (8/3) / N²`.
    fn psd_scale(&self, n: f64) -> f64 {
        10f64.powf((REFERENCE_DB - self.psd_max) / 10.0) * GAIN / (n * n)
    }

    fn check(&self, masker: &Masker, delta: &[f32]) -> Result<()> {
        if delta.len() != self.len || masker.bins() != self.bins {
            return Err(Error::invalid(
                "perturbation",
                format!(
                    "{} samples for a threshold of a {}-sample clip and {} bins (masker: {})",
                    delta.len(),
                    self.len,
                    self.bins,
                    masker.bins()
                ),
            ));
        }
        Ok(())
    }

    /// The masking loss of a perturbation and its gradient (ART's
    /// `_loss_gradient_masking_threshold`): the mean over frames and bins of
    /// `relu(PSD_δ − 10^(θ/10))` with both in the stabilised power units above, which Qin et al.
    /// use because the dB form's logarithm makes the optimisation unstable.
    ///
    /// The gradient is by hand: the DFT is linear in δ, so ∂|X_k|²/∂δ_{s+n} =
    /// 2·w_n·Re(X_k·e^{2πikn/N}); summed over the bins above threshold with their weights, that is
    /// one inverse real FFT per frame.
    pub fn loss_and_gradient(&self, masker: &Masker, delta: &[f32]) -> Result<(f64, Vec<f64>)> {
        self.check(masker, delta)?;
        let (psd, spectrum) = self.perturbation_psd(masker, delta);
        let cells = (self.frames * self.bins) as f64;
        let n = masker.window as f64;
        let mut loss = 0.0;
        let mut grad = vec![0.0; delta.len()];
        let mut z = masker.inverse.make_input_vec();
        let mut y = masker.inverse.make_output_vec();
        let mut scratch = masker.inverse.make_scratch_vec();
        let scale = self.psd_scale(n);
        for f in 0..self.frames {
            let mut any = false;
            for (k, zk) in z.iter_mut().enumerate() {
                let c = f * self.bins + k;
                let excess = psd[c] - 10f64.powf(self.threshold[c] / 10.0);
                if excess > 0.0 {
                    loss += excess;
                    any = true;
                    let weight = scale / cells;
                    let interior = k != 0 && k != self.bins - 1;
                    *zk = spectrum[c] * if interior { weight / 2.0 } else { weight };
                } else {
                    *zk = Complex::new(0.0, 0.0);
                }
            }
            if !any {
                continue;
            }
            z[0].im = 0.0;
            z[self.bins - 1].im = 0.0;
            masker
                .inverse
                .process_with_scratch(&mut z, &mut y, &mut scratch)
                .expect("buffers sized by the plan");
            let start = f * masker.hop;
            for (i, v) in y.iter().enumerate() {
                grad[start + i] += 2.0 * masker.hann[i] * v;
            }
        }
        Ok((loss / cells, grad))
    }

    /// The masking loss alone (see [`loss_and_gradient`](Self::loss_and_gradient)).
    pub fn loss(&self, masker: &Masker, delta: &[f32]) -> Result<f64> {
        self.check(masker, delta)?;
        let (psd, _) = self.perturbation_psd(masker, delta);
        let cells = (self.frames * self.bins) as f64;
        Ok(psd
            .iter()
            .zip(&self.threshold)
            .map(|(p, t)| (p - 10f64.powf(t / 10.0)).max(0.0))
            .sum::<f64>()
            / cells)
    }

    /// The perturbation's PSD in dB on this threshold's scale, frame-major (floored at −200 dB):
    /// what the masking loss and [`fraction_below`](Self::fraction_below) compare with
    /// [`threshold`](Self::threshold), bin by bin.
    pub fn perturbation_db(&self, masker: &Masker, delta: &[f32]) -> Result<Vec<f64>> {
        self.check(masker, delta)?;
        let (psd, _) = self.perturbation_psd(masker, delta);
        Ok(psd
            .iter()
            .map(|p| (10.0 * p.log10()).max(FLOOR_DB))
            .collect())
    }

    /// The fraction of a perturbation's energy that lies below this masking threshold: its STFT
    /// power summed over the frames and bins where its normalised PSD does not exceed the
    /// threshold, over its power in all of them (interior bins counted twice, as in Parseval's sum
    /// over the full spectrum). 1: wholly masked; `None` for a perturbation with no energy in any
    /// frame.
    pub fn fraction_below(&self, masker: &Masker, delta: &[f32]) -> Result<Option<f64>> {
        self.check(masker, delta)?;
        let (psd, spectrum) = self.perturbation_psd(masker, delta);
        let (mut below, mut total) = (0.0, 0.0);
        for (c, x) in spectrum.iter().enumerate() {
            let k = c % self.bins;
            let weight = if k != 0 && k != self.bins - 1 {
                2.0
            } else {
                1.0
            };
            let e = weight * x.norm_sqr();
            total += e;
            if psd[c] <= 10f64.powf(self.threshold[c] / 10.0) {
                below += e;
            }
        }
        Ok((total > 0.0).then(|| below / total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_windows_follow_the_rate() {
        assert_eq!(default_window(8000), 512);
        assert_eq!(default_window(16000), 1024);
        assert_eq!(default_window(44100), 2048);
    }

    #[test]
    fn a_tone_masks_its_neighbourhood_and_the_gradient_matches_finite_differences() {
        let rate = 8000;
        let masker = Masker::new(64, 16, rate).unwrap();
        let len = 160;
        let tone: Vec<f32> = (0..len)
            .map(|i| 3000.0 * (2.0 * std::f32::consts::PI * 500.0 * i as f32 / rate as f32).sin())
            .collect();
        let t = masker.threshold(&tone).unwrap();
        assert_eq!((t.frames, t.bins), (7, 33));
        // The threshold peaks near the tone's bin (500 Hz = bin 4) and falls away from it.
        let frame = &t.threshold[2 * t.bins..3 * t.bins];
        assert!(frame[4] > frame[20] + 20.0, "{frame:?}");
        // Gradient by hand against central differences, on a perturbation partly above threshold.
        let delta: Vec<f32> = (0..len)
            .map(|i| 40.0 * ((i as f32 * 0.37).sin() + (i as f32 * 1.3).cos()))
            .collect();
        let (loss, grad) = t.loss_and_gradient(&masker, &delta).unwrap();
        assert!(loss > 0.0);
        assert!((t.loss(&masker, &delta).unwrap() - loss).abs() <= 1e-9 * loss);
        for i in [0, 17, 50, 80, 159] {
            let h = 0.1f32;
            let mut up = delta.clone();
            up[i] += h;
            let mut down = delta.clone();
            down[i] -= h;
            let fd = (t.loss(&masker, &up).unwrap() - t.loss(&masker, &down).unwrap())
                / (2.0 * f64::from(h));
            assert!(
                (fd - grad[i]).abs() <= 1e-3 * grad[i].abs().max(1e-3 * loss),
                "sample {i}: finite differences {fd}, by hand {}",
                grad[i]
            );
        }
        let below = t.fraction_below(&masker, &delta).unwrap().unwrap();
        assert!((0.0..1.0).contains(&below), "{below}");
        let quiet: Vec<f32> = delta.iter().map(|d| d * 1e-4).collect();
        assert_eq!(t.fraction_below(&masker, &quiet).unwrap(), Some(1.0));
        assert_eq!(t.fraction_below(&masker, &vec![0.0; len]).unwrap(), None);
    }
}
