//! What the audio benchmarks share with `../shared/bench/art_baseline.py`: its input batch, its
//! timing rule (one warm-up, then the median) and its JSON lines.

use avfoil::array::Array;
use serde_json::json;
use std::time::Instant;

/// The baseline's `audio_batch`: Gaussian-windowed tones plus noise (timing does not depend on it).
pub fn audio_batch(n: usize) -> Array {
    let mut data = Vec::with_capacity(n * 8000);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        for s in 0..8000 {
            let t = s as f64 / 8000.0;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 170.0;
            let v = 3000.0
                * (2.0 * std::f64::consts::PI * (200.0 + 40.0 * i as f64) * t).sin()
                * (-(t - 0.5).powi(2) / 0.02).exp();
            data.push((v + noise) as f32);
        }
    }
    Array {
        shape: vec![n, 1, 8000],
        data,
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f(); // warm-up
    let mut ts = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        out = f();
        ts.push(t0.elapsed().as_secs_f64());
    }
    (median(ts), out)
}

pub fn report(case: &str, seconds: f64, items: usize, extra: serde_json::Value) {
    let mut doc = json!({"case": case, "seconds": (seconds * 1e4).round() / 1e4, "items": items,
                         "per_item_ms": (1e6 * seconds / items as f64).round() / 1e3});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    println!("{doc}");
}

/// `n` pixels in [0, 1) from a fixed xorshift: video timings do not depend on them.
#[allow(dead_code)] // for the video benchmarks
pub fn pixels(n: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}
