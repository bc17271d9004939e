//! Over-the-air robustness (issue 19): the image-source room impulse response against its closed
//! form, the `room` channel's seeding and exact backward pass, and, end to end on the shipped
//! model, that PGD with expectation over rooms survives rooms it never saw better than plain PGD.

mod common;

use avfoil::audio::room::{Room, SPEED_OF_SOUND, convolve_truncated, correlate_truncated};
use avfoil::classifier::Preprocessor;
use avfoil::defence::room::{RoomChannel, RoomSpec};
use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[test]
fn one_reflecting_wall_gives_the_direct_and_the_mirrored_tap() {
    // Only the wall x = 0 reflects (beta 0.7); every other wall absorbs everything.
    let beta = 0.7;
    let room = Room {
        size: [6.0, 5.0, 3.0],
        beta: [beta, 0.0, 0.0, 0.0, 0.0, 0.0],
        source: [0.5, 2.0, 1.5],
        mic: [1.0, 3.5, 1.5],
    };
    let fs = 16_000;
    for order in [1, 5] {
        let h = room.impulse_response(fs, order, 4000).unwrap();
        let r_direct = dist(room.source, room.mic);
        let image = [-room.source[0], room.source[1], room.source[2]];
        let r_image = dist(image, room.mic);
        let tap = ((r_image - r_direct) / SPEED_OF_SOUND * f64::from(fs)).round() as usize;
        assert!(tap > 0);
        let nonzero: Vec<(usize, f32)> = h
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, v)| (i, *v))
            .collect();
        assert_eq!(nonzero.len(), 2, "order {order}: {nonzero:?}");
        assert_eq!(nonzero[0], (0, 1.0), "direct path first, gain 1");
        assert_eq!(nonzero[1].0, tap);
        let expected = beta * r_direct / r_image;
        assert!(
            (f64::from(nonzero[1].1) - expected).abs() < 1e-6,
            "{} vs {expected}",
            nonzero[1].1
        );
    }
    // A second reflecting wall opposite adds the images between both.
    let mut both = room.clone();
    both.beta[1] = beta;
    let h = both.impulse_response(fs, 2, 4000).unwrap();
    assert!(h.iter().filter(|v| **v != 0.0).count() > 2);
}

#[test]
fn more_absorption_lowers_the_tail_and_the_response_is_deterministic() {
    let room = |alpha: f64| Room {
        size: [5.0, 4.0, 3.0],
        beta: [avfoil::audio::room::reflection_from_absorption(alpha); 6],
        source: [1.2, 1.5, 1.4],
        mic: [3.7, 2.2, 1.6],
    };
    let tail = |h: &[f32]| h[1..].iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    let fs = 8000;
    let energies: Vec<f64> = [0.1, 0.4, 0.8]
        .iter()
        .map(|&a| tail(&room(a).impulse_response(fs, 12, 2000).unwrap()))
        .collect();
    assert!(
        energies[0] > energies[1] && energies[1] > energies[2],
        "{energies:?}"
    );
    assert!(
        room(1.0)
            .impulse_response(fs, 12, 2000)
            .unwrap()
            .iter()
            .skip(1)
            .all(|v| *v == 0.0),
        "anechoic: the direct path alone"
    );
    assert_eq!(
        room(0.3).impulse_response(fs, 12, 2000).unwrap(),
        room(0.3).impulse_response(fs, 12, 2000).unwrap()
    );
    let mut outside = room(0.3);
    outside.mic[0] = 9.0;
    assert!(outside.impulse_response(fs, 12, 2000).is_err());
}

#[test]
fn truncated_convolution_and_its_transpose_match_the_direct_sums() {
    let mut rng = Lcg(5);
    let x = rng.vec(300, -1.0, 1.0);
    let h = rng.vec(37, -1.0, 1.0);
    let g = rng.vec(300, -1.0, 1.0);
    let y = convolve_truncated(&x, &h);
    let back = correlate_truncated(&g, &h);
    for t in 0..x.len() {
        let direct: f32 = (0..h.len().min(t + 1)).map(|k| h[k] * x[t - k]).sum();
        assert!((y[t] - direct).abs() < 1e-4, "{t}: {} vs {direct}", y[t]);
        let transposed: f32 = (0..h.len())
            .filter(|k| t + k < g.len())
            .map(|k| h[k] * g[t + k])
            .sum();
        assert!((back[t] - transposed).abs() < 1e-4);
    }
}

fn channel(spec: RoomSpec) -> RoomChannel {
    RoomChannel::new(spec, 8000, 1, 800, None)
}

#[test]
fn the_channel_is_seeded_keeps_the_length_and_its_backward_pass_is_the_transpose() {
    let mut rng = Lcg(9);
    let (n, d) = (3, 800);
    let x = tensor(&rng.vec(n * d, -1000.0, 1000.0), n, d);
    let pass = |c: &RoomChannel, stream: u64, x: &burn::tensor::Tensor<2>| {
        let mut r = ChaCha8Rng::seed_from_u64(42);
        r.set_stream(stream);
        host(&c.forward(x.clone(), &mut r).unwrap())
    };
    let c = channel(RoomSpec::default());
    let a = pass(&c, 0, &x);
    assert_eq!(a.len(), n * d);
    assert_eq!(a, pass(&c, 0, &x), "same stream, same rooms and noise");
    assert_ne!(a, pass(&c, 1, &x), "another stream, other rooms");

    // Without noise the channel is linear: <F x, g> = <x, Fᵀ g> with the draw of that pass.
    let quiet = channel(RoomSpec {
        snr_db: [200.0, 200.0],
        max_shift: 30,
        ..RoomSpec::default()
    });
    let fx = pass(&quiet, 3, &x);
    let g = tensor(&rng.vec(n * d, -1.0, 1.0), n, d);
    let back = host(&quiet.backward(&x, g.clone()));
    let draws = quiet.last_draws(&x).expect("the pass's draws are kept");
    assert_eq!(draws.len(), n);
    assert!(draws.iter().any(|dr| dr.shift != 0) && draws.iter().any(|dr| dr.gain != 1.0));
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| f64::from(*p) * f64::from(*q))
            .sum::<f64>()
    };
    let (lhs, rhs) = (dot(&fx, &host(&g)), dot(&host(&x), &back));
    assert!(
        (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
}

#[test]
fn parameters_are_checked_by_name() {
    let out = avfoil(&[
        "predict",
        "--model",
        "spoken-digits",
        "--defence",
        "room",
        "--defence-param",
        "room.absorption=[0.5, 1.5]",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/spoken-digits.npy"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absorption"));
    let out = avfoil(&[
        "predict",
        "--model",
        "spoken-digits",
        "--draws",
        "5",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/spoken-digits.npy"),
    ]);
    assert!(!out.status.success(), "--draws needs a randomised defence");
}

/// The success rate over `draws` rooms from `seed` (never the attack's) of the examples in `path`.
fn over_the_air(path: &str, seed: &str, draws: &str) -> f64 {
    let doc = ok_json(&[
        "predict",
        "--model",
        "spoken-digits",
        "--defence",
        "room",
        "--seed",
        seed,
        "--draws",
        draws,
        "--labels",
        "1,3,5,8",
        "--json",
        path,
    ]);
    doc["success_rate"].as_f64().unwrap()
}

#[test]
fn eot_over_rooms_beats_plain_pgd_on_unseen_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let clean = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/spoken-digits.npy");
    let attack = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "attack",
            "--model",
            "spoken-digits",
            "--attack",
            "pgd",
            "--eps",
            "64",
            "--max-iter",
            "10",
            "--labels",
            "1,3,5,8",
            "--seed",
            "1",
            "--json",
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        args.push(clean);
        ok_json(&args);
    };
    let (plain, eot) = (dir.path().join("plain.npy"), dir.path().join("eot.npy"));
    attack(&plain, &[]);
    attack(&eot, &["--defence", "room", "--eot", "4"]);
    // Rooms from seed 99: none of them was drawn by the attack (seed 1).
    let p = over_the_air(s(&plain), "99", "40");
    let e = over_the_air(s(&eot), "99", "40");
    assert!(e > p, "EOT {e} vs plain {p}");
    assert!(e >= 0.5, "EOT over rooms {e}");
}
