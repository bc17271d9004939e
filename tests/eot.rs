//! Expectation over transformation: the gradient is the exact mean of the draws the defence gives
//! pass by pass, the randomised defence counts its draws, and `--eot` / `eot =` are refused where
//! there is nothing random to average.

mod common;

use avfoil::array::Array;
use avfoil::classifier::{Classifier, Defended, Eot};
use avfoil::defence::GaussianNoise;
use avfoil::media::npy::write_npy;
use common::*;
use std::sync::Arc;

/// A 3-class linear model behind Gaussian noise: its cross-entropy gradient (p − onehot)·W
/// depends on the noise through the softmax, so each draw gives another gradient.
fn noisy_linear(seed: u64) -> Defended {
    let w = [
        0.5f32, -1.0, 2.0, 0.25, -0.5, 1.0, -1.0, 0.75, 0.1, 0.2, 0.3, -0.4,
    ];
    let clf = Arc::new(linear(&w, &[0.3, -0.1, 0.0], 3, 4, None));
    let noise = GaussianNoise {
        sigma: 0.8,
        clip: None,
    };
    Defended::new(clf, vec![Box::new(noise)]).with_seed(seed)
}

#[test]
fn the_gradient_is_the_mean_of_the_draws() {
    let x = tensor(&[0.2, 0.4, 0.1, -0.3, 1.0, -1.0, 0.5, 0.0], 2, 4);
    let labels = [0usize, 2];
    let draws = 5;
    let reference = noisy_linear(11);
    let mut single = Vec::new();
    for _ in 0..draws {
        single.push(host(&reference.loss_gradient(x.clone(), &labels).unwrap()));
    }
    assert_ne!(single[0], single[1], "the draws differ");
    let mean: Vec<f32> = (0..single[0].len())
        .map(|j| single.iter().map(|g| g[j]).sum::<f32>() / draws as f32)
        .collect();
    let defended = noisy_linear(11);
    let eot = Eot::new(&defended, draws).unwrap();
    let g = host(&eot.loss_gradient(x.clone(), &labels).unwrap());
    assert!(rel_err(&g, &mean) < 1e-6, "{g:?} vs {mean:?}");
    assert_eq!(host(&x), vec![0.2, 0.4, 0.1, -0.3, 1.0, -1.0, 0.5, 0.0]);
    // Forward passes are one draw each: the defended model's answer, not an average.
    let fresh = noisy_linear(11);
    let eot = Eot::new(&fresh, draws).unwrap();
    assert_eq!(
        host(&eot.logits(x.clone()).unwrap()),
        host(&noisy_linear(11).logits(x).unwrap())
    );
    assert!(Eot::new(&fresh, 0).is_err());
}

/// A two-class audio model of 64 samples and a .npy batch of two examples in `dir`.
fn setup(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let weight: Vec<f32> = (0..128)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.01)
        .collect();
    let model = write_linear_model(
        dir,
        "lin",
        ["a", "b"],
        "modality = \"audio\"\nshape = [1, 64]\nclip = [-1.0, 1.0]\nsample_rate = 8000",
        weight,
    );
    let x: Vec<f32> = (0..128)
        .map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.1)
        .collect();
    let npy = dir.join("x.npy");
    write_npy(&npy, &Array::new(vec![2, 1, 64], x).unwrap()).unwrap();
    (model, npy)
}

fn attack_args<'a>(model: &'a str, npy: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "attack",
        "--model",
        model,
        "--attack",
        "pgd",
        "--eps",
        "0.1",
        "--max-iter",
        "3",
        "--out",
        out,
        npy,
        "--json",
    ]
}

#[test]
fn eot_on_the_command_line_counts_its_draws_and_needs_randomness() {
    let dir = tempfile::tempdir().unwrap();
    let (model, npy) = setup(dir.path());
    let noise = [
        "--defence",
        "gaussian-noise",
        "--defence-param",
        "gaussian-noise.sigma=0.05",
    ];
    let out1 = dir.path().join("one.npy");
    let mut args = attack_args(s(&model), s(&npy), s(&out1));
    args.extend(noise);
    let one = ok_json(&args);
    let out4 = dir.path().join("four.npy");
    let mut args = attack_args(s(&model), s(&npy), s(&out4));
    args.extend(noise);
    args.extend(["--eot", "4"]);
    let four = ok_json(&args);
    assert_eq!(one["eot"], 1);
    assert_eq!(four["eot"], 4);
    let gradients = |doc: &serde_json::Value| doc["queries"]["gradients"].as_u64().unwrap();
    assert!(gradients(&one) > 0);
    assert_eq!(gradients(&four), 4 * gradients(&one));
    assert_eq!(four["defences"][0], "gaussian-noise");

    // Without a randomised defence every draw is the same: refused, saying why.
    let out = dir.path().join("none.npy");
    let mut args = attack_args(s(&model), s(&npy), s(&out));
    args.extend(["--eot", "4"]);
    let refused = avfoil(&args);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("--eot 4") && err.contains("randomised"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let refused = avfoil(&[
        "attack",
        "--model",
        s(&model),
        "--attack",
        "pgd",
        "--eps",
        "0.1",
        "--out",
        s(&out),
        s(&npy),
        "--defence",
        "gaussian-noise",
    ]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("sigma"), "{err}");
}
