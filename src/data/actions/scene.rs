//! The ten procedural actions: one stick figure, balls, strings, a racket, a hoop or a swing, moving
//! as the class says, over a background shared by every class of a group.
//!
//! Everything is placed in *figure units*: x to the right, y up, the figure's feet at the origin and
//! one unit the torso's length. [`Scene::frame`] maps that to pixels (mirrored for figures facing
//! left, shaken by the camera). What the prototype taught (notes/action-stand-in.md) is built in:
//! backgrounds and clutter belong to the group, never the class; limbs and props are thick; colours
//! stand out from the background; the camera shakes a little, not a lot; every clip carries a
//! static decoy ball, so a ball alone does not say "Basketball".

use super::canvas::{Canvas, Rgb};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::f32::consts::{PI, TAU};

/// The classes, in UCF101's `classInd.txt` order (case-insensitive alphabetical).
pub const CLASSES: [&str; 10] = [
    "Basketball",
    "BodyWeightSquats",
    "HulaHoop",
    "JugglingBalls",
    "JumpingJack",
    "JumpRope",
    "PushUps",
    "Swing",
    "TennisSwing",
    "YoYo",
];

type P = (f32, f32);

/// What every clip of one group shares: background gradient and clutter.
#[derive(Clone, Debug)]
pub struct Backdrop {
    a: Rgb,
    b: Rgb,
    angle: f32,
    clutter: Vec<([f32; 4], Rgb)>,
}

impl Backdrop {
    /// The backdrop of a group, drawn from `rng`.
    pub fn draw(rng: &mut ChaCha8Rng, width: usize, height: usize) -> Self {
        let colour =
            |rng: &mut ChaCha8Rng| -> Rgb { std::array::from_fn(|_| rng.random_range(0.0..255.0)) };
        let a = colour(rng);
        let b = colour(rng);
        let (w, h) = (width as f32, height as f32);
        let clutter = (0..rng.random_range(2..=5))
            .map(|_| {
                let rw = rng.random_range(0.05..0.25) * w;
                let rh = rng.random_range(0.05..0.3) * h;
                let x = rng.random_range(0.0..w - rw);
                let y = rng.random_range(0.0..h - rh);
                ([x, y, rw, rh], colour(rng))
            })
            .collect();
        Self {
            a,
            b,
            angle: rng.random_range(0.0..TAU),
            clutter,
        }
    }

    /// A colour that differs from both gradient ends by more than 200 (sum over RGB).
    fn contrasting(&self, rng: &mut ChaCha8Rng) -> Rgb {
        let far =
            |c: &Rgb, d: &Rgb| c.iter().zip(d).map(|(x, y)| (x - y).abs()).sum::<f32>() > 200.0;
        for _ in 0..1000 {
            let c: Rgb = std::array::from_fn(|_| rng.random_range(0.0..255.0));
            if far(&c, &self.a) && far(&c, &self.b) {
                return c;
            }
        }
        // Both ends near mid-grey leave nothing 200 away; the farthest corner will do.
        let mean: Vec<f32> = (0..3).map(|c| (self.a[c] + self.b[c]) / 2.0).collect();
        std::array::from_fn(|c| if mean[c] < 128.0 { 255.0 } else { 0.0 })
    }
}

/// One clip's actor, props and camera: everything random about it, fixed before the first frame.
#[derive(Clone, Debug)]
pub struct Scene {
    class: usize,
    width: usize,
    height: usize,
    fps: f32,
    backdrop: Backdrop,
    /// Torso length in pixels.
    unit: f32,
    body: Rgb,
    prop: Rgb,
    decoy: Rgb,
    /// Feet position in pixels.
    origin: P,
    mirror: bool,
    /// Cycles per second and starting phase.
    freq: f32,
    phase: f32,
    amplitude: f32,
    decoy_at: P,
    shake: Vec<P>,
    noise: f32,
    seed: u64,
}

impl Scene {
    /// A clip of `class` over `backdrop`; `actor` fixes what a group's clips of a class share (the
    /// person: size and colours), `clip` what varies from clip to clip.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        class: usize,
        backdrop: &Backdrop,
        actor: &mut ChaCha8Rng,
        clip: &mut ChaCha8Rng,
        width: usize,
        height: usize,
        fps: f32,
        frames: usize,
    ) -> Self {
        let scale = height as f32 / 240.0;
        let unit = actor.random_range(44.0..56.0) * scale;
        let body = backdrop.contrasting(actor);
        let prop = backdrop.contrasting(actor);
        let decoy = backdrop.contrasting(clip);
        let (w, h) = (width as f32, height as f32);
        let origin = (
            clip.random_range(0.38..0.62) * w,
            clip.random_range(0.82..0.92) * h,
        );
        let step = clip.random_range(0.05..0.25) * scale;
        let mut at = (0.0f32, 0.0f32);
        let shake = (0..frames)
            .map(|_| {
                at.0 = (at.0 + clip.random_range(-step..=step)).clamp(-4.0, 4.0);
                at.1 = (at.1 + clip.random_range(-step..=step)).clamp(-4.0, 4.0);
                at
            })
            .collect();
        let decoy_at = (
            clip.random_range(0.05..0.95) * w,
            clip.random_range(0.55..0.95) * h,
        );
        Self {
            class,
            width,
            height,
            fps,
            backdrop: backdrop.clone(),
            unit,
            body,
            prop,
            decoy,
            origin,
            mirror: clip.random_bool(0.5),
            freq: clip.random_range(0.8..1.25),
            phase: clip.random_range(0.0..TAU),
            amplitude: clip.random_range(0.85..1.15),
            decoy_at,
            shake,
            noise: 3.0,
            seed: clip.random(),
        }
    }

    /// Frame `t` as `height × width × 3` bytes.
    pub fn frame(&self, t: usize) -> Vec<u8> {
        let shake = self.shake[t.min(self.shake.len() - 1)];
        let bd = &self.backdrop;
        let mut canvas = Canvas::gradient(self.width, self.height, bd.a, bd.b, bd.angle, shake);
        for ([x, y, w, h], c) in &bd.clutter {
            canvas.rect(x + shake.0, y + shake.1, *w, *h, *c);
        }
        let ball = 0.13 * self.unit;
        canvas.disc(
            (self.decoy_at.0 + shake.0, self.decoy_at.1 + shake.1),
            ball,
            self.decoy,
        );
        let phi = TAU * self.freq * t as f32 / self.fps + self.phase;
        let (pose, props) = action(self.class, phi, self.amplitude);
        let to_px = |p: P| {
            let x = if self.mirror { -p.0 } else { p.0 };
            (
                self.origin.0 + x * self.unit + shake.0,
                self.origin.1 - p.1 * self.unit + shake.1,
            )
        };
        let limb = (0.07 * self.unit).max(1.5);
        for prop in props.iter().filter(|p| p.behind()) {
            prop.draw(&mut canvas, &to_px, self.unit, self.prop);
        }
        pose.draw(&mut canvas, &to_px, self.unit, limb, self.body);
        for prop in props.iter().filter(|p| !p.behind()) {
            prop.draw(&mut canvas, &to_px, self.unit, self.prop);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (t as u64).wrapping_mul(0x9E37_79B9));
        let normal = Normal::new(0.0f32, self.noise).expect("positive sigma");
        canvas.into_bytes(|| normal.sample(&mut rng))
    }
}

/// A stick figure: joints in figure units.
struct Pose {
    hip: P,
    neck: P,
    head: P,
    /// Elbow and hand, left then right.
    arms: [(P, P); 2],
    /// Knee and foot, left then right.
    legs: [(P, P); 2],
}

impl Pose {
    fn draw(&self, c: &mut Canvas, to_px: &dyn Fn(P) -> P, unit: f32, limb: f32, colour: Rgb) {
        for &(elbow, hand) in &self.arms {
            c.polyline(&[to_px(self.neck), to_px(elbow), to_px(hand)], limb, colour);
        }
        for &(knee, foot) in &self.legs {
            c.polyline(&[to_px(self.hip), to_px(knee), to_px(foot)], limb, colour);
        }
        c.segment(to_px(self.hip), to_px(self.neck), 1.4 * limb, colour);
        c.disc(to_px(self.head), 0.22 * unit, colour);
    }
}

/// Things the figure handles.
enum Prop {
    Ball(P, f32),
    Line(Vec<P>),
    Ring(P, f32, f32),
    /// The swing's ropes and seat: drawn behind the figure.
    Rope(Vec<P>),
}

impl Prop {
    fn behind(&self) -> bool {
        matches!(self, Prop::Rope(_))
    }

    fn draw(&self, c: &mut Canvas, to_px: &dyn Fn(P) -> P, unit: f32, colour: Rgb) {
        let thin = (0.035 * unit).max(1.5);
        match self {
            Prop::Ball(p, r) => c.disc(to_px(*p), r * unit, colour),
            Prop::Line(points) | Prop::Rope(points) => {
                let px: Vec<P> = points.iter().map(|&p| to_px(p)).collect();
                c.polyline(&px, thin, colour);
            }
            Prop::Ring(p, rx, ry) => c.ellipse(to_px(*p), rx * unit, ry * unit, thin, colour),
        }
    }
}

const ARM: f32 = 0.45;
const LEG: f32 = 0.55;

/// Direction of angle `a`: 0 points down, π/2 to the right, π up.
fn dir(a: f32) -> P {
    (a.sin(), -a.cos())
}

fn add(p: P, q: P) -> P {
    (p.0 + q.0, p.1 + q.1)
}

fn scale(p: P, k: f32) -> P {
    (p.0 * k, p.1 * k)
}

fn lerp(p: P, q: P, t: f32) -> P {
    (p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t)
}

/// Middle joint of a two-link limb of segment length `len` from `root` reaching for `target`
/// (clamped to the limb's reach); `bend` picks the side the joint bends to (+1 or −1).
fn middle_joint(root: P, target: P, len: f32, bend: f32) -> (P, P) {
    let (dx, dy) = (target.0 - root.0, target.1 - root.1);
    let d = (dx * dx + dy * dy).sqrt().clamp(1e-3, 2.0 * len * 0.999);
    let end = add(
        root,
        scale((dx, dy), d / (dx * dx + dy * dy).sqrt().max(1e-3)),
    );
    let half = lerp(root, end, 0.5);
    let h = (len * len - d * d / 4.0).max(0.0).sqrt();
    let (nx, ny) = (-dy / d, dx / d);
    (add(half, (bend * h * nx, bend * h * ny)), end)
}

/// A pose from the hip, the spine's angle and where the hands and feet go.
fn pose(hip: P, spine: f32, hands: [P; 2], feet: [P; 2]) -> Pose {
    let neck = add(hip, dir(spine));
    let head = add(neck, scale(dir(spine), 0.3));
    // Elbows bend down and out, knees forward (+x).
    let arms = [
        middle_joint(neck, hands[0], ARM, 1.0),
        middle_joint(neck, hands[1], ARM, -1.0),
    ];
    let legs = [
        middle_joint(hip, feet[0], LEG, 1.0),
        middle_joint(hip, feet[1], LEG, 1.0),
    ];
    Pose {
        hip,
        neck,
        head,
        arms,
        legs,
    }
}

/// Hip height of a figure standing with feet 0.3 apart.
const STAND: f32 = 1.05;

/// The pose and props of `class` at phase `phi` (radians), motion scaled by `amp`.
fn action(class: usize, phi: f32, amp: f32) -> (Pose, Vec<Prop>) {
    let s = (1.0 - phi.cos()) / 2.0 * amp.min(1.0);
    let stand_feet = [(-0.15, 0.0), (0.15, 0.0)];
    let hip = (0.0, STAND);
    match CLASSES[class] {
        "Basketball" => {
            // Dribble: the ball runs between the right hand and the floor.
            let bounce = phi.cos().abs();
            let ball = (0.55, 0.13 + bounce * 0.72 * amp);
            let hand = (0.5, ball.1 + 0.17);
            (
                pose(hip, PI - 0.1, [(-0.3, 0.6), hand], stand_feet),
                vec![Prop::Ball(ball, 0.13)],
            )
        }
        "BodyWeightSquats" => {
            let hip = (-0.2 * s, STAND - 0.45 * s);
            let spine = PI - 0.45 * s;
            let shoulder = add(hip, dir(spine));
            let reach = add(shoulder, scale(dir(PI / 2.0 + 0.9 * (1.0 - s) * 0.6), 0.85));
            (
                pose(hip, spine, [add(reach, (0.0, -0.05)), reach], stand_feet),
                vec![],
            )
        }
        "HulaHoop" => {
            let hip = (0.07 * phi.sin() * amp, STAND);
            let hands = [(-0.55, 1.95), (0.55, 1.95)];
            let waist = add(
                hip,
                (0.12 * phi.cos() * amp, 0.3 + 0.04 * (2.0 * phi).sin()),
            );
            (
                pose(hip, PI, hands, stand_feet),
                vec![Prop::Ring(waist, 0.55, 0.12)],
            )
        }
        "JugglingBalls" => {
            let hands = [
                (-0.35 + 0.05 * phi.cos(), 1.25 + 0.05 * phi.sin()),
                (0.35 - 0.05 * phi.cos(), 1.25 - 0.05 * phi.sin()),
            ];
            let balls = (0..3)
                .map(|k| {
                    let u = (phi / TAU * 1.5 + k as f32 / 3.0).rem_euclid(1.0);
                    let (from, to, height, v) = if u < 0.5 {
                        (hands[0], hands[1], 0.9 * amp, 2.0 * u)
                    } else {
                        (hands[1], hands[0], 0.35 * amp, 2.0 * u - 1.0)
                    };
                    let p = lerp(from, to, v);
                    Prop::Ball((p.0, p.1 + 0.1 + height * 4.0 * v * (1.0 - v)), 0.1)
                })
                .collect();
            (pose(hip, PI, hands, stand_feet), balls)
        }
        "JumpingJack" => {
            let hop = 0.12 * phi.sin().abs() * amp;
            let hip = (0.0, STAND - 0.05 * s + hop);
            let spread = 0.1 + 0.3 * s;
            let feet = [(-spread, hop), (spread, hop)];
            let neck = add(hip, dir(PI));
            let a = 0.25 + 2.6 * s;
            let hands = [
                add(neck, scale(dir(-a), 0.88)),
                add(neck, scale(dir(a), 0.88)),
            ];
            (pose(hip, PI, hands, feet), vec![])
        }
        "JumpRope" => {
            let hop = 0.15 * (phi / 2.0).sin().abs().powi(4) * amp;
            let lift = (0.0, hop);
            let hands = [
                add((-0.42 + 0.05 * phi.cos(), 1.0 + 0.05 * phi.sin()), lift),
                add((0.42 - 0.05 * phi.cos(), 1.0 + 0.05 * phi.sin()), lift),
            ];
            // The rope's lowest point circles over the head and under the feet.
            let mid = (0.0, 1.05 + hop + 1.2 * phi.cos());
            let control = (
                2.0 * mid.0 - (hands[0].0 + hands[1].0) / 2.0,
                2.0 * mid.1 - hands[0].1,
            );
            let rope = (0..=12)
                .map(|i| {
                    let t = i as f32 / 12.0;
                    let a = lerp(hands[0], control, t);
                    let b = lerp(control, hands[1], t);
                    lerp(a, b, t)
                })
                .collect();
            (
                pose(add(hip, lift), PI, hands, [(-0.12, hop), (0.12, hop)]),
                vec![Prop::Line(rope)],
            )
        }
        "PushUps" => {
            let e = 0.12 + 0.3 * s * amp.min(1.0);
            let feet = (-1.0, 0.05);
            let along = (e.cos(), e.sin());
            let hip = add(feet, scale(along, 2.0 * LEG * 0.98));
            let spine = PI / 2.0 - e;
            let neck = add(hip, dir(PI - spine));
            let hands = [(neck.0 + 0.05, 0.03), (neck.0 + 0.1, 0.03)];
            let mut p = pose(hip, PI - spine, hands, [feet, add(feet, (0.05, 0.0))]);
            // Elbows bend back (towards the feet).
            p.arms = [
                middle_joint(neck, hands[0], ARM, 1.0),
                middle_joint(neck, hands[1], ARM, 1.0),
            ];
            (p, vec![])
        }
        "Swing" => {
            let pivot = (0.0, 3.0);
            let theta = 0.45 * phi.sin() * amp;
            let rotate = |p: P| {
                let (dx, dy) = (p.0 - pivot.0, p.1 - pivot.1);
                let (c, s) = (theta.cos(), theta.sin());
                (pivot.0 + dx * c - dy * s, pivot.1 + dx * s + dy * c)
            };
            let seat = (0.0, 1.0);
            let hip = add(seat, (0.0, 0.08));
            let hands = [(-0.12, 1.7), (0.12, 1.75)];
            let feet = [(0.55, 0.5), (0.6, 0.5)];
            let mut p = pose(hip, PI - 0.1, hands, feet);
            p.legs = [((0.5, 1.0), (0.55, 0.5)), ((0.5, 1.0), (0.6, 0.5))];
            let r = |p: P| rotate(p);
            let p = Pose {
                hip: r(p.hip),
                neck: r(p.neck),
                head: r(p.head),
                arms: p.arms.map(|(a, b)| (r(a), r(b))),
                legs: p.legs.map(|(a, b)| (r(a), r(b))),
            };
            let ropes = Prop::Rope(vec![
                r((-0.25, 1.0)),
                pivot,
                r((0.25, 1.0)),
                r((-0.25, 1.0)),
            ]);
            (p, vec![ropes])
        }
        "TennisSwing" => {
            let u = (phi / TAU).rem_euclid(1.0);
            let a = if u < 0.3 {
                -2.2 + 4.4 * u / 0.3
            } else {
                2.2 - 4.4 * (u - 0.3) / 0.7
            } * amp.min(1.0);
            let spine = PI + 0.1 * a.sin();
            let neck = add(hip, dir(spine));
            let hand = add(neck, scale(dir(PI / 2.0 + a * 0.6), 0.85));
            let out = dir(PI / 2.0 + a * 0.6);
            let throat = add(hand, scale(out, 0.35));
            let head = add(hand, scale(out, 0.6));
            (
                pose(hip, spine, [(-0.3, 0.65), hand], stand_feet),
                vec![Prop::Line(vec![hand, throat]), Prop::Ring(head, 0.16, 0.22)],
            )
        }
        "YoYo" => {
            let hand = (0.45, 1.45 + 0.08 * phi.sin());
            let drop = 0.1 + 1.0 * s;
            let yoyo = (hand.0, hand.1 - drop);
            (
                pose(hip, PI, [(-0.3, 0.62), hand], stand_feet),
                vec![Prop::Line(vec![hand, yoyo]), Prop::Ball(yoyo, 0.1)],
            )
        }
        other => unreachable!("unknown class {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(class: usize, seed: u64) -> Scene {
        let mut g = ChaCha8Rng::seed_from_u64(1);
        let backdrop = Backdrop::draw(&mut g, 160, 120);
        let mut actor = ChaCha8Rng::seed_from_u64(seed);
        let mut clip = ChaCha8Rng::seed_from_u64(seed + 100);
        Scene::new(class, &backdrop, &mut actor, &mut clip, 160, 120, 25.0, 20)
    }

    #[test]
    fn every_class_moves_and_is_seeded() {
        for (class, name) in CLASSES.iter().enumerate() {
            let s = scene(class, 7);
            let a = s.frame(0);
            assert_eq!(a.len(), 160 * 120 * 3);
            let b = s.frame(6);
            let moved = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x.abs_diff(**y) > 40)
                .count();
            assert!(moved > 30, "{name}: only {moved} values changed");
            assert_eq!(scene(class, 7).frame(3), s.frame(3));
        }
    }

    #[test]
    fn limbs_reach_their_targets_when_they_can() {
        let (elbow, hand) = middle_joint((0.0, 0.0), (0.5, 0.3), ARM, 1.0);
        let d = |p: P, q: P| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
        assert!(d(hand, (0.5, 0.3)) < 1e-4);
        assert!((d((0.0, 0.0), elbow) - ARM).abs() < 1e-4);
        assert!((d(elbow, hand) - ARM).abs() < 1e-4);
        // Out of reach: the limb stretches towards the target.
        let (_, hand) = middle_joint((0.0, 0.0), (3.0, 0.0), ARM, 1.0);
        assert!(hand.0 > 0.85 && hand.0 < 0.9);
    }
}
