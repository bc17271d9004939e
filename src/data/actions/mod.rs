//! `avfoil data actions`: a procedural stand-in for UCF101, in UCF101's exact layout.
//!
//! Ten UCF101-named classes drawn from the same parts (figure, balls, strings, racket, hoop, swing,
//! clutter, camera shake, noise), so that mostly the *motion* tells them apart. Files:
//!
//! ```text
//! OUT/UCF-101/<Class>/v_<Class>_gGG_cCC.{mp4|avi}
//! OUT/ucfTrainTestlist/classInd.txt                "1 Basketball"            (CRLF, 1-based)
//! OUT/ucfTrainTestlist/trainlist0{1,2,3}.txt       "Basketball/v_….avi 1"    (CRLF)
//! OUT/ucfTrainTestlist/testlist0{1,2,3}.txt        "Basketball/v_….avi"      (CRLF)
//! ```
//!
//! UCF101's three splits test on groups 1–7, 8–14 and 15–21 of 25; with `G` groups, split `k` tests
//! on the groups in `[(k−1)·7G/25, k·7G/25)` (rounded), so 25 groups give UCF101's own split.
//!
//! A group shares its backdrop (gradient and clutter) across all classes, and one actor (size,
//! colours) per class, as UCF101's groups share a person and a place. Every random choice comes from
//! `seed`, per group, per actor and per clip, so clips do not depend on the order they are drawn in.

pub mod canvas;
pub mod scene;

use crate::error::{Error, Result};
use crate::seed::mix;
use crate::video::Video;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
pub use scene::CLASSES;
use scene::{Backdrop, Scene};
use serde::Serialize;

/// What to render.
#[derive(Clone, Debug, Serialize)]
pub struct ActionsConfig {
    /// Groups (UCF101 has 25).
    pub groups: usize,
    /// Clips per group and class (UCF101 has 4–7).
    pub clips: usize,
    /// Frames per clip.
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    pub seed: u64,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            groups: 25,
            clips: 4,
            frames: 48,
            width: 320,
            height: 240,
            fps: 25.0,
            seed: 0,
        }
    }
}

/// The largest side a rendered clip may have (4K UHD's width; UCF101's is 320).
pub const MAX_SIDE: usize = 3840;
/// The most frames a rendered clip may have (UCF101's longest is about 1,800).
pub const MAX_FRAMES: usize = 10_000;

impl ActionsConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let bad = |p: &str, why: String| Err(Error::invalid(p, why));
        if !(1..=99).contains(&self.groups) {
            return bad(
                "groups",
                format!("expected 1..=99 (UCF101 names gGG), got {}", self.groups),
            );
        }
        if !(1..=99).contains(&self.clips) {
            return bad(
                "clips",
                format!("expected 1..=99 (UCF101 names cCC), got {}", self.clips),
            );
        }
        if !(1..=MAX_FRAMES).contains(&self.frames) {
            return bad(
                "frames",
                format!("expected 1..={MAX_FRAMES}, got {}", self.frames),
            );
        }
        let sides = 32..=MAX_SIDE;
        if !sides.contains(&self.width)
            || !sides.contains(&self.height)
            || self.width % 2 == 1
            || self.height % 2 == 1
        {
            return bad(
                "size",
                format!(
                    "expected even sides of 32 to {MAX_SIDE}, got {} × {}",
                    self.width, self.height
                ),
            );
        }
        let bytes = self.frames * self.width * self.height * 3;
        if bytes > crate::video::MAX_DECODED_BYTES {
            return bad(
                "frames",
                format!(
                    "{} frames of {} × {} take {} GiB of RGB; the limit is {} GiB per clip",
                    self.frames,
                    self.width,
                    self.height,
                    bytes >> 30,
                    crate::video::MAX_DECODED_BYTES >> 30
                ),
            );
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return bad(
                "fps",
                format!("expected a positive frame rate, got {}", self.fps),
            );
        }
        Ok(())
    }

    /// The test groups (1-based) of split `k` (1, 2 or 3).
    pub fn test_groups(&self, k: usize) -> std::ops::Range<usize> {
        let edge = |i: usize| ((i * 7 * self.groups) as f64 / 25.0).round() as usize;
        edge(k - 1) + 1..edge(k) + 1
    }

    /// Renders clip `clip` (1-based) of `class` in `group` (1-based).
    pub fn render(&self, class: usize, group: usize, clip: usize) -> Result<Video> {
        let seeded = |parts: &[u64]| ChaCha8Rng::seed_from_u64(mix(self.seed, parts));
        let backdrop = Backdrop::draw(&mut seeded(&[1, group as u64]), self.width, self.height);
        let mut actor = seeded(&[2, group as u64, class as u64]);
        let mut rng = seeded(&[3, group as u64, class as u64, clip as u64]);
        let scene = Scene::new(
            class,
            &backdrop,
            &mut actor,
            &mut rng,
            self.width,
            self.height,
            self.fps as f32,
            self.frames,
        );
        let mut rgb = Vec::with_capacity(self.frames * self.width * self.height * 3);
        for t in 0..self.frames {
            rgb.extend(scene.frame(t));
        }
        Video::new(self.width, self.height, self.fps, rgb)
    }

    /// UCF101's relative path of a clip, without extension: `Class/v_Class_gGG_cCC`.
    pub fn clip_stem(class: usize, group: usize, clip: usize) -> String {
        let name = CLASSES[class];
        format!("{name}/v_{name}_g{group:02}_c{clip:02}")
    }

    /// The list files' contents (`classInd.txt`, then `trainlist0k.txt` and `testlist0k.txt` for
    /// k = 1, 2, 3), CRLF-terminated as UCF101's, for clips with extension `ext`.
    pub fn lists(&self, ext: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let class_ind: String = CLASSES
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} {c}\r\n", i + 1))
            .collect();
        out.push(("classInd.txt".to_string(), class_ind));
        for k in 1..=3 {
            let test = self.test_groups(k);
            let (mut train_list, mut test_list) = (String::new(), String::new());
            for class in 0..CLASSES.len() {
                for group in 1..=self.groups {
                    for clip in 1..=self.clips {
                        let path = format!("{}.{ext}", Self::clip_stem(class, group, clip));
                        if test.contains(&group) {
                            test_list.push_str(&format!("{path}\r\n"));
                        } else {
                            train_list.push_str(&format!("{path} {}\r\n", class + 1));
                        }
                    }
                }
            }
            out.push((format!("trainlist{k:02}.txt"), train_list));
            out.push((format!("testlist{k:02}.txt"), test_list));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_follow_ucf101_with_25_groups_and_scale_down() {
        let c = ActionsConfig::default();
        assert_eq!(c.test_groups(1), 1..8);
        assert_eq!(c.test_groups(2), 8..15);
        assert_eq!(c.test_groups(3), 15..22);
        let small = ActionsConfig { groups: 10, ..c };
        assert_eq!(small.test_groups(1), 1..4);
        assert_eq!(small.test_groups(3), 7..9);
    }

    #[test]
    fn lists_are_ucf101_shaped() {
        let c = ActionsConfig {
            groups: 4,
            clips: 2,
            ..Default::default()
        };
        let lists = c.lists("avi");
        assert!(
            lists[0]
                .1
                .starts_with("1 Basketball\r\n2 BodyWeightSquats\r\n")
        );
        assert!(lists[0].1.contains("6 JumpRope\r\n"));
        let train = &lists[1].1;
        let test = &lists[2].1;
        assert!(train.contains("YoYo/v_YoYo_g04_c02.avi 10\r\n"), "{train}");
        assert!(test.contains("Basketball/v_Basketball_g01_c01.avi\r\n"));
        assert_eq!(train.lines().count() + test.lines().count(), 10 * 4 * 2);
    }

    #[test]
    fn rendering_is_seeded_per_clip() {
        let c = ActionsConfig {
            frames: 3,
            width: 64,
            height: 48,
            ..Default::default()
        };
        let a = c.render(2, 1, 1).unwrap();
        assert_eq!((a.width, a.height, a.frame_count()), (64, 48, 3));
        assert_eq!(a, c.render(2, 1, 1).unwrap());
        assert_ne!(a, c.render(2, 1, 2).unwrap());
        let other = ActionsConfig {
            seed: 1,
            ..c.clone()
        };
        assert_ne!(a, other.render(2, 1, 1).unwrap());
        assert!(ActionsConfig { width: 33, ..c }.validate().is_err());
    }
}
