//! Finite differences of every exact backward pass: for a random weighting `w` of the outputs
//! and a random direction `v`, `<backward(x, w), v>` must equal the derivative of `<w, forward(x)>`
//! along `v`. The BPDA defences' backward passes are the identity, checked once.

use crate::common::{Lcg, host};
use crate::{apply, audio, batch, build, input, video};
use avfoil::classifier::Preprocessor;
use avfoil::model::Modality;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// The relative error between the backward pass and a central difference with step `h`.
fn check(d: &dyn Preprocessor, x: &[f32], n: usize, h: f32, seed: u64) -> f64 {
    let mut rng = Lcg(seed);
    let w = rng.vec(x.len(), -1.0, 1.0);
    let v = rng.vec(x.len(), -1.0, 1.0);
    let g = host(&d.backward(&batch(x, n), batch(&w, n)));
    let at = |s: f32| -> Vec<f32> { x.iter().zip(&v).map(|(x, v)| x + s * v).collect() };
    let fd = (dot(&w, &apply(d, &at(h), n, 0)) - dot(&w, &apply(d, &at(-h), n, 0)))
        / (2.0 * f64::from(h));
    let exact = dot(&g, &v);
    (exact - fd).abs() / exact.abs().max(1e-9)
}

#[test]
fn linear_filters_have_their_exact_transpose() {
    let mut rng = Lcg(3);
    // Two examples of two channels, in int16 units and far from the clip range.
    let x = rng.vec(2 * 2 * 300, -3000.0, 3000.0);
    for (name, params) in [
        ("lowpass", vec!["cutoff=1000", "taps=31"]),
        ("bandpass", vec!["low=300", "high=3000", "taps=40"]),
        ("moving-average", vec!["window=4"]),
        ("moving-average", vec!["window=401"]),
    ] {
        let d = build(name, &params, &audio(2, 300)).unwrap();
        let err = check(&*d, &x, 2, 10.0, 5);
        assert!(err < 1e-4, "{name} {params:?}: relative error {err:e}");
    }
}

#[test]
fn a_clipped_filter_output_passes_no_gradient() {
    // A loud square wave in [-1, 1] units: the low-pass overshoots (Gibbs) and is clipped there.
    let n = 400;
    let x: Vec<f32> = (0..n)
        .map(|i| if (i / 50) % 2 == 0 { 0.99 } else { -0.99 })
        .collect();
    let unit = input(Modality::Audio, vec![1, n], [-1.0, 1.0], Some(8000));
    let d = build("lowpass", &["cutoff=1500", "taps=31"], &unit).unwrap();
    let y = apply(&*d, &x, 1, 0);
    assert!(y.iter().any(|v| v.abs() == 1.0), "some output is clipped");
    let err = check(&*d, &x, 1, 1e-3, 9);
    assert!(err < 1e-3, "relative error {err:e}");
}

#[test]
fn frame_subsampling_gathers_the_held_frames_gradients() {
    let mut rng = Lcg(4);
    let x = rng.vec(2 * 3 * 7 * 2 * 3, 0.0, 1.0);
    let d = build("frame-subsample", &["every=3"], &video(7, 2, 3)).unwrap();
    let err = check(&*d, &x, 2, 1e-2, 6);
    assert!(err < 1e-4, "relative error {err:e}");
}

#[test]
fn bpda_defences_pass_the_gradient_through() {
    let mut rng = Lcg(8);
    let g = rng.vec(2 * 800, -1.0, 1.0);
    let x = rng.vec(2 * 800, -1000.0, 1000.0);
    for (name, params) in [
        ("resample", vec![]),
        ("bit-depth", vec![]),
        ("median", vec![]),
    ] {
        let d = build(name, &params, &audio(1, 800)).unwrap();
        assert_eq!(host(&d.backward(&batch(&x, 2), batch(&g, 2))), g, "{name}");
    }
    let gv = rng.vec(3 * 4 * 16 * 16, -1.0, 1.0);
    let xv = rng.vec(3 * 4 * 16 * 16, 0.0, 1.0);
    for (name, params) in [
        ("jpeg", vec![]),
        ("median-spatial", vec![]),
        ("frame-drop", vec!["p=0.5"]),
    ] {
        let d = build(name, &params, &video(4, 16, 16)).unwrap();
        assert_eq!(
            host(&d.backward(&batch(&xv, 1), batch(&gv, 1))),
            gv,
            "{name}"
        );
    }
}
