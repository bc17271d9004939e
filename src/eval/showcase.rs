//! A few examples shown in full in the report: the clean input, the adversarial one and what the
//! first defence makes of both attacks, as sounds (WAV) or animations (GIF), with plots.
//!
//! The showcase examples are the first rows of the shard's first chunk, attacked with that chunk's
//! seed: attacks treat rows independently, so these are the very adversarial examples the records
//! describe.

use super::records::{Kind, Record};
use super::run::{Chunk, Models, attack_chunk, load_chunk};
use super::scenario::Scenario;
use super::universal::{self, Fits};
use crate::array::tensor_to_vec;
use crate::audio::wav::{WavEncoding, write_wav};
use crate::error::{Error, Result};
use crate::media::plot::{frame_strip_png, masking_png, spectrogram_png, waveform_png};
use crate::model::Modality;
use crate::perception::masking_frame::most_audible_frame;
use crate::scale::AudioScale;
use crate::seed::mix;
use crate::video::gif_write::write_gif;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// One input shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Item {
    /// `clean`, `adversarial`, `adversarial + mp3`, …
    pub title: String,
    /// The class the (defended) model predicts.
    pub class: String,
    /// The file, relative to the output folder.
    pub path: String,
    /// `wav` or `gif`.
    pub media: String,
}

/// One example shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Showcase {
    pub example: usize,
    pub id: String,
    pub label: String,
    pub attack: String,
    pub eps: f32,
    pub items: Vec<Item>,
    /// PNG plots, relative to the output folder.
    pub plots: Vec<String>,
}

/// The folder of the showcase under an output folder.
pub const DIR: &str = "examples";

/// Writes the showcase of `chunk` (its first `count` rows) under `out/examples/` and returns it.
/// The last attack of the scenario is shown at the smallest eps that fools the bare model on each
/// example (its largest when none does).
pub fn write(
    scenario: &Scenario,
    models: &Models,
    first_chunk: (usize, &[super::dataset::Example]),
    records: &[Record],
    fits: &mut Fits,
    out: &Path,
    device: &Device,
) -> Result<Vec<Showcase>> {
    let count = scenario.report.examples.min(first_chunk.1.len());
    if count == 0 {
        return Ok(Vec::new());
    }
    let a = scenario.attacks.len() - 1;
    let spec = &scenario.attacks[a];
    let label = spec.label();
    let chunk = load_chunk(first_chunk.0, &first_chunk.1[..count], models, device)?;
    let bs = scenario.batch_size();
    let d = models.bare.features();
    // The budget shown for each row.
    let mut order: Vec<usize> = (0..spec.eps.len()).collect();
    order.sort_by(|&i, &j| spec.eps[i].total_cmp(&spec.eps[j]));
    let chosen: Vec<usize> = chunk
        .examples
        .iter()
        .map(|example| {
            let fooled = |eps: f32| {
                records.iter().any(|r| {
                    r.example == example.index
                        && r.kind == Kind::Attack
                        && r.defence.is_none()
                        && r.attack.as_deref() == Some(label)
                        && r.eps == Some(eps)
                        && !r.correct
                })
            };
            order
                .iter()
                .copied()
                .find(|&i| fooled(spec.eps[i]))
                .unwrap_or(*order.last().expect("eps lists are not empty"))
        })
        .collect();
    // One attack per budget shown (bare, and adaptive through the first defence), on the rows up to
    // the last that shows it: rows before it are attacked too so that it keeps its random stream.
    let first_defence = scenario.defences.first();
    let mut attacked: HashMap<usize, (Vec<f32>, Option<Vec<f32>>)> = HashMap::new();
    for &e in &chosen {
        if attacked.contains_key(&e) {
            continue;
        }
        let last = chosen.iter().rposition(|&c| c == e).expect("e was chosen");
        let rows = Chunk {
            index: chunk.index,
            examples: &chunk.examples[..=last],
            x: chunk.x.clone().narrow(0, 0, last + 1),
            clean: chunk.clean[..(last + 1) * d].to_vec(),
            labels: chunk.labels[..=last].to_vec(),
        };
        if spec.fits_on_train() {
            // The perturbations fitted on the train part, as the records measured them.
            let bare = fits.get(a, e, None)?;
            let bare = tensor_to_vec(universal::apply(models.bare.as_ref(), &rows.x, &bare.v)?);
            let adaptive = match first_defence {
                Some(entry) if entry.adaptive => {
                    let fitted = fits.get(a, e, Some(0))?;
                    let adv = universal::apply(models.bare.as_ref(), &rows.x, &fitted.v)?;
                    Some(tensor_to_vec(adv))
                }
                _ => None,
            };
            attacked.insert(e, (bare, adaptive));
            continue;
        }
        let seed = mix(scenario.seed, &[1, chunk.index as u64, a as u64, e as u64]);
        let eps = spec.eps[e];
        let bare = attack_chunk(models, None, spec.build(eps, seed, bs)?.as_ref(), &rows)?;
        let adaptive = match first_defence {
            Some(entry) if entry.adaptive => {
                let attack = spec.build(eps, seed, bs)?;
                Some(attack_chunk(models, Some(0), attack.as_ref(), &rows)?.adversarial)
            }
            _ => None,
        };
        attacked.insert(e, (bare.adversarial, adaptive));
    }
    let mut shown = Vec::new();
    for (row, example) in chunk.examples.iter().enumerate() {
        let e = chosen[row];
        let (bare, adaptive) = &attacked[&e];
        let clean = &chunk.clean[row * d..(row + 1) * d];
        let adversarial = &bare[row * d..(row + 1) * d];
        let mut inputs = vec![
            ("clean".to_string(), clean, None),
            ("adversarial".to_string(), adversarial, None),
        ];
        if let Some(entry) = first_defence {
            let name = entry.label();
            inputs.push((format!("adversarial + {name}"), adversarial, Some(0)));
            if let Some(adaptive) = adaptive {
                let adv = &adaptive[row * d..(row + 1) * d];
                inputs.push((format!("adaptive adversarial + {name}"), adv, Some(0)));
            }
        }
        let dir_name = format!("{DIR}/{:04}", example.index);
        let dir = out.join(&dir_name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut items = Vec::new();
        for (title, values, d) in inputs {
            // What the defended model sees is what the reader should hear or watch.
            let shown_values = match d {
                Some(i) => tensor_to_vec(models.defended[i].defend(row_tensor(values, device))?.0),
                None => values.to_vec(),
            };
            // `shown_values` already went through the defence: the bare model on them is the
            // defended model on the input, as the records measure it.
            let predicted = models
                .bare
                .predict_labels(&row_tensor(&shown_values, device), 1)?[0];
            let stem = title.replace(" + ", "-").replace(' ', "-");
            let (file, media) = write_media(models, &dir.join(&stem), &shown_values)?;
            items.push(Item {
                title,
                class: models.config.classes[predicted].clone(),
                path: format!("{dir_name}/{file}"),
                media,
            });
        }
        let plots = write_plots(models, &dir, &dir_name, &example.id, clean, adversarial)?;
        shown.push(Showcase {
            example: example.index,
            id: example.id.clone(),
            label: models.config.classes[example.label].clone(),
            attack: label.to_string(),
            eps: spec.eps[e],
            items,
            plots,
        });
    }
    let json = serde_json::to_string_pretty(&shown).expect("plain data");
    crate::fs::write_atomic(&out.join(DIR).join("showcase.json"), json.as_bytes())?;
    Ok(shown)
}

/// Reads the showcase a run wrote (none when it wrote none).
pub fn read(out: &Path) -> Result<Vec<Showcase>> {
    let path = out.join(DIR).join("showcase.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::decode(&path, e.to_string()))
}

fn row_tensor(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [1, values.len()]), device)
}

/// A WAV (audio, 16-bit: what a listener gets) or a GIF (video); returns (file name, media).
fn write_media(models: &Models, stem: &Path, values: &[f32]) -> Result<(String, String)> {
    let input = &models.config.input;
    let name = stem
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match input.modality {
        Modality::Audio => {
            let rate = input.sample_rate.unwrap_or(8000);
            let scale = AudioScale::from_clip(input.clip.map(|[a, b]| (a, b)));
            let unit: Vec<f32> = values.iter().map(|v| v / scale.factor()).collect();
            write_wav(&stem.with_extension("wav"), rate, &unit, WavEncoding::Int16)?;
            Ok((format!("{name}.wav"), "wav".into()))
        }
        Modality::Video => {
            let max = models.bare.clip().map_or(1.0, |(_, hi)| hi);
            write_gif(&stem.with_extension("gif"), values, &input.shape, max, 12.5)?;
            Ok((format!("{name}.gif"), "gif".into()))
        }
    }
}

fn write_plots(
    models: &Models,
    dir: &Path,
    dir_name: &str,
    title: &str,
    clean: &[f32],
    adversarial: &[f32],
) -> Result<Vec<String>> {
    let input = &models.config.input;
    match input.modality {
        Modality::Audio => {
            let rate = input.sample_rate.unwrap_or(8000);
            waveform_png(&dir.join("waveform.png"), title, rate, clean, adversarial)?;
            spectrogram_png(
                &dir.join("spectrogram.png"),
                title,
                rate,
                clean,
                adversarial,
            )?;
            let mut plots = vec![
                format!("{dir_name}/waveform.png"),
                format!("{dir_name}/spectrogram.png"),
            ];
            // A clip shorter than the masking model's window has no threshold to draw.
            if let Ok(frame) = most_audible_frame(clean, adversarial, rate) {
                masking_png(&dir.join("masking.png"), title, &frame)?;
                plots.push(format!("{dir_name}/masking.png"));
            }
            Ok(plots)
        }
        Modality::Video => {
            let max = models.bare.clip().map_or(1.0, |(_, hi)| hi);
            frame_strip_png(
                &dir.join("frames.png"),
                title,
                clean,
                adversarial,
                &input.shape,
                max,
            )?;
            Ok(vec![format!("{dir_name}/frames.png")])
        }
    }
}
