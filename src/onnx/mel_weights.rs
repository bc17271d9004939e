//! ONNX's MelWeightMatrix: the triangular mel filterbank `[dft_length/2 + 1, num_mel_bins]` that
//! maps a onesided power spectrum to mel bands, computed once when the graph loads (its inputs
//! must be constants). The arithmetic is onnxruntime's (single precision, the mel scale
//! `2595·log10(1 + f/700)`, `num_mel_bins + 2` points spaced evenly in mels between the edges,
//! each point floored to a DFT bin; the same matrix as ONNX's reference implementation on the
//! tested parameters). A rounding difference would move a whole triangle by one bin, so the
//! precision is onnxruntime's rather than f64.

/// The most values the matrix may hold (bins × mel bands): its sizes come from the file.
pub const MAX_VALUES: usize = 1 << 24;

/// The filterbank's inputs, as the node gives them.
#[derive(Clone, Copy, Debug)]
pub struct MelSpec {
    pub num_mel_bins: i64,
    pub dft_length: i64,
    pub sample_rate: i64,
    pub lower_edge_hertz: f32,
    pub upper_edge_hertz: f32,
}

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// The matrix, row-major `[bins, mels]`, with its two sizes; or which input is out of range.
pub fn matrix(s: &MelSpec) -> Result<(Vec<f32>, usize, usize), String> {
    if s.num_mel_bins < 1 || s.dft_length < 1 || s.sample_rate < 1 {
        return Err(format!(
            "num_mel_bins {}, dft_length {} and sample_rate {} must be positive",
            s.num_mel_bins, s.dft_length, s.sample_rate
        ));
    }
    let (lower, upper) = (s.lower_edge_hertz, s.upper_edge_hertz);
    if !(lower.is_finite() && upper.is_finite() && 0.0 <= lower && lower < upper) {
        return Err(format!(
            "lower_edge_hertz {lower} and upper_edge_hertz {upper}: expected 0 <= lower < upper"
        ));
    }
    let mels = usize::try_from(s.num_mel_bins).map_err(|e| e.to_string())?;
    let bins = usize::try_from(s.dft_length / 2 + 1).map_err(|e| e.to_string())?;
    if bins.checked_mul(mels).is_none_or(|v| v > MAX_VALUES) {
        return Err(format!(
            "a {bins} × {mels} matrix is more than the {MAX_VALUES} values avfoil builds"
        ));
    }
    let (dft, rate) = (s.dft_length as f32, s.sample_rate as f32);
    let index = |hz: f32| ((dft + 1.0) * hz / rate).floor();
    if index(upper) >= bins as f32 {
        return Err(format!(
            "upper_edge_hertz {upper} is above the highest frequency of a {} point DFT at {} Hz",
            s.dft_length, s.sample_rate
        ));
    }
    let (low_mel, high_mel) = (hz_to_mel(lower), hz_to_mel(upper));
    let step = (high_mel - low_mel) / (mels + 2) as f32;
    let mut points = Vec::with_capacity(mels + 2);
    for i in 0..mels + 2 {
        let at = index(mel_to_hz(low_mel + step * i as f32));
        if !(0.0..bins as f32).contains(&at) {
            return Err(format!(
                "the band edges {lower}..{upper} Hz fall outside the DFT's {bins} bins"
            ));
        }
        points.push(at as usize);
    }
    let mut out = vec![0f32; bins * mels];
    for i in 0..mels {
        let (left, centre, right) = (points[i], points[i + 1], points[i + 2]);
        if centre == left {
            out[centre * mels + i] = 1.0;
        } else {
            for j in left..=centre {
                out[j * mels + i] = (j - left) as f32 / (centre - left) as f32;
            }
        }
        for j in centre..right {
            out[j * mels + i] = (right - j) as f32 / (right - centre) as f32;
        }
    }
    Ok((out, bins, mels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mels: i64, dft: i64, rate: i64, lower: f32, upper: f32) -> MelSpec {
        MelSpec {
            num_mel_bins: mels,
            dft_length: dft,
            sample_rate: rate,
            lower_edge_hertz: lower,
            upper_edge_hertz: upper,
        }
    }

    /// Each band is a triangle: it rises to 1 at its centre bin and falls back, and the bands'
    /// peaks move up the spectrum.
    #[test]
    fn bands_are_triangles_with_rising_centres() {
        let (m, bins, mels) = matrix(&spec(8, 64, 8000, 60.0, 3800.0)).unwrap();
        assert_eq!((bins, mels), (33, 8));
        let mut last_peak = 0;
        for i in 0..mels {
            let col: Vec<f32> = (0..bins).map(|j| m[j * mels + i]).collect();
            let peak = col.iter().position(|&v| v == 1.0).expect("a peak of 1");
            assert!(
                peak >= last_peak,
                "band {i} peaks at {peak} below {last_peak}"
            );
            last_peak = peak;
            assert!(col.iter().all(|&v| (0.0..=1.0).contains(&v)));
            assert!(
                col[..peak].windows(2).all(|w| w[0] <= w[1]),
                "band {i}: {col:?}"
            );
            assert!(
                col[peak..].windows(2).all(|w| w[0] >= w[1]),
                "band {i}: {col:?}"
            );
        }
    }

    /// The peaks and column sums of ONNX's reference implementation (onnx.reference, float32) for
    /// 8 bands of a 64-point DFT at 8 kHz between 60 and 3800 Hz.
    #[test]
    fn the_reference_implementations_matrix() {
        let (m, bins, mels) = matrix(&spec(8, 64, 8000, 60.0, 3800.0)).unwrap();
        let column = |i: usize| -> Vec<f32> { (0..bins).map(|j| m[j * mels + i]).collect() };
        let peaks: Vec<usize> = (0..mels)
            .map(|i| column(i).iter().position(|&v| v == 1.0).unwrap())
            .collect();
        assert_eq!(peaks, [1, 3, 4, 6, 9, 12, 15, 19]);
        let sums: Vec<f32> = (0..mels).map(|i| column(i).iter().sum()).collect();
        let want = [1.5, 1.5, 1.5, 2.5, 3.0, 3.0, 3.5, 4.5];
        assert!(
            sums.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5),
            "{sums:?}"
        );
    }

    #[test]
    fn out_of_range_edges_and_sizes_are_refused() {
        assert!(matrix(&spec(8, 64, 8000, 100.0, 4100.0)).is_err());
        assert!(matrix(&spec(8, 64, 8000, 300.0, 200.0)).is_err());
        assert!(matrix(&spec(0, 64, 8000, 0.0, 1000.0)).is_err());
        assert!(matrix(&spec(1 << 20, 1 << 20, 8000, 0.0, 1000.0)).is_err());
        assert!(matrix(&spec(8, 64, 0, 0.0, 1000.0)).is_err());
    }
}
