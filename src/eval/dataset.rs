//! The examples of an evaluation: a data set on disk in its published layout, its labels mapped to
//! the model's classes, in a seeded order, each loaded as the model's input.

use super::scenario::{DataPart, DatasetSpec, Loader};
use crate::data::actions::{ActionsConfig, CLASSES};
use crate::data::ucf101::{Part, Ucf101};
use crate::data::{DigitCorpus, DigitLayout};
use crate::error::{Error, Result};
use crate::model::{Modality, ModelConfig};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// One example: where it is and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// Position in the evaluation's order (after the seeded shuffle); keys the results.
    pub index: usize,
    /// The file, relative to the data set's root where possible (for reports).
    pub id: String,
    pub path: PathBuf,
    /// The true class, as the model's class index.
    pub label: usize,
}

/// The examples `spec` names, shuffled with `seed` and cut to its limit. `work` holds what a
/// generated data set renders (the `actions` loader).
pub fn open(
    spec: &DatasetSpec,
    model: &ModelConfig,
    seed: u64,
    work: &Path,
) -> Result<Vec<Example>> {
    let (root, items): (PathBuf, Vec<(PathBuf, String)>) = match spec.loader {
        Loader::Fsdd | Loader::Audiomnist => {
            let root = spec.root.clone().unwrap_or_default();
            let corpus = DigitCorpus::open(&root)?;
            let want = if spec.loader == Loader::Fsdd {
                DigitLayout::Fsdd
            } else {
                DigitLayout::AudioMnist
            };
            if corpus.layout != want {
                return Err(Error::invalid(
                    "dataset.root",
                    format!(
                        "{} holds {:?}, not {}",
                        root.display(),
                        corpus.layout,
                        spec.loader()
                    ),
                ));
            }
            let (train, test) = corpus.split(spec.test_speakers.as_deref().unwrap_or_default());
            let clips = match spec.part {
                DataPart::Test => test,
                DataPart::Train => train,
                DataPart::All => corpus.clips.clone(),
            };
            let items = clips
                .into_iter()
                .map(|c| (c.path, c.digit.to_string()))
                .collect();
            (root, items)
        }
        Loader::Ucf101 => {
            let root = spec.root.clone().unwrap_or_default();
            let items = ucf101_items(&root, spec.split(), spec.part)?;
            (root, items)
        }
        Loader::Actions => {
            let defaults = ActionsConfig::default();
            let config = ActionsConfig {
                groups: spec.groups.unwrap_or(defaults.groups),
                clips: spec.clips.unwrap_or(defaults.clips),
                frames: spec.frames.unwrap_or(defaults.frames),
                width: spec.size.map_or(defaults.width, |s| s[0]),
                height: spec.size.map_or(defaults.height, |s| s[1]),
                fps: spec.fps.unwrap_or(defaults.fps),
                seed: spec.seed.unwrap_or(defaults.seed),
            };
            let root = work.join("dataset");
            render_actions(&config, spec.split(), spec.part, &root)?;
            let items = ucf101_items(&root, spec.split(), spec.part)?;
            (root, items)
        }
    };
    if items.is_empty() {
        return Err(Error::invalid(
            "dataset",
            format!("{} has no examples in this split", root.display()),
        ));
    }
    let mut examples = items
        .into_iter()
        .map(|(path, class)| {
            let label = model
                .classes
                .iter()
                .position(|c| *c == class)
                .ok_or_else(|| {
                    Error::invalid(
                        "dataset",
                        format!(
                            "{}: class {class:?} is not one of the model's ({})",
                            path.display(),
                            model.classes.join(", ")
                        ),
                    )
                })?;
            let id = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            Ok(Example {
                index: 0,
                id,
                path,
                label,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    examples.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    examples.truncate(spec.limit.unwrap_or(usize::MAX));
    for (i, e) in examples.iter_mut().enumerate() {
        e.index = i;
    }
    // Every input is checked before any work: a stereo recording found an hour in loses the hour.
    if model.input.modality == Modality::Audio {
        for e in &examples {
            crate::audio::wav::check_mono_wav(&e.path)?;
        }
    }
    Ok(examples)
}

fn ucf101_items(root: &Path, split: u32, part: DataPart) -> Result<Vec<(PathBuf, String)>> {
    let ucf = Ucf101::open(root)?;
    let part = match part {
        DataPart::Train => Part::Train,
        _ => Part::Test,
    };
    Ok(ucf
        .split(split, part)?
        .into_iter()
        .map(|v| (v.path, ucf.classes[v.label].clone()))
        .collect())
}

/// Writes the clips of one part of one split of the action corpus (MP4) with all the list files,
/// skipping clips already there (an interrupted evaluation resumes its rendering too).
fn render_actions(config: &ActionsConfig, split: u32, part: DataPart, root: &Path) -> Result<()> {
    use rayon::prelude::*;
    config.validate()?;
    let test = config.test_groups(split as usize);
    let videos = root.join("UCF-101");
    let lists = root.join("ucfTrainTestlist");
    let mut todo = Vec::new();
    for (class, name) in CLASSES.iter().enumerate() {
        let dir = videos.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for group in (1..=config.groups).filter(|g| test.contains(g) == (part == DataPart::Test)) {
            for clip in 1..=config.clips {
                let path = videos.join(format!(
                    "{}.mp4",
                    ActionsConfig::clip_stem(class, group, clip)
                ));
                if !path.is_file() {
                    todo.push((class, group, clip, path));
                }
            }
        }
    }
    todo.par_iter().try_for_each(|(class, group, clip, path)| {
        crate::video::io::write_video(path, &config.render(*class, *group, *clip)?)
    })?;
    std::fs::create_dir_all(&lists).map_err(|e| Error::io(&lists, e))?;
    for (name, text) in config.lists("mp4") {
        crate::fs::write_atomic(&lists.join(name), text.as_bytes())?;
    }
    Ok(())
}
