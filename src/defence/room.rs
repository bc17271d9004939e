//! A simulated over-the-air channel: each pass plays every example in a random room (image-source
//! impulse response, [`crate::audio::room`]), shifts it in time, changes its level and adds
//! microphone noise. As a defence it is a randomised input transformation; its real use is as the
//! distribution that expectation over transformation (`attack --defence room --eot N`) averages
//! over, so that a perturbation survives rooms it was not crafted in (issue 19: over-the-air
//! robustness), measured by `predict --defence room --draws N` on another seed.
//!
//! Per example and pass, from the pass's random stream: a room size, one absorption per wall, a
//! source and a microphone position at least `wall_margin` from every wall, an SNR, a gain and a
//! shift. The output keeps the input's length: the reverberant tail after the clip is dropped and
//! the shift pads with zeros (a delayed clip loses its end, an advanced one its start).
//!
//! The backward pass is exact for the linear part: the transpose of the truncated convolution with
//! the same impulse response (a correlation), times the same gain, shifted back. It uses the draw
//! its forward pass made, kept by a fingerprint of the input (the backward pass is given the input,
//! not the random stream). The noise is additive (identity Jacobian; its level follows the clip's
//! power, which the gradient treats as constant) and the clip to the model's range is the identity,
//! as for every other attack step here.

use super::{DefenceEntry, DefenceSpec, audio_shape, sample_rate};
use crate::array::tensor_to_vec;
use crate::audio::room::{
    Room, convolve_truncated, correlate_truncated, reflection_from_absorption,
};
use crate::classifier::Preprocessor;
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::{Param, Params};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// `room`.
pub static ENTRY: DefenceEntry = DefenceEntry {
    name: "room",
    about: "simulated over-the-air channel: a random shoebox room (image-source impulse response), time shift, gain and noise per example and pass; randomised, seeded, exact gradient",
    params: &[
        Param {
            key: "length",
            default: "[3, 8]",
            about: "range of the room's length, metres (drawn uniformly)",
        },
        Param {
            key: "width",
            default: "[3, 8]",
            about: "range of the room's width, metres",
        },
        Param {
            key: "height",
            default: "[2.5, 4]",
            about: "range of the room's height, metres",
        },
        Param {
            key: "absorption",
            default: "[0.2, 0.8]",
            about: "range of each wall's energy absorption, drawn per wall (reflection sqrt(1 - a))",
        },
        Param {
            key: "wall_margin",
            default: "0.5",
            about: "least distance of the source and the microphone from any wall, metres",
        },
        Param {
            key: "max_order",
            default: "12",
            about: "most reflections per image source",
        },
        Param {
            key: "ir_seconds",
            default: "0.25",
            about: "length cap of the impulse response, seconds",
        },
        Param {
            key: "snr_db",
            default: "[20, 40]",
            about: "range of the white noise's SNR, dB below the reverberant clip's power",
        },
        Param {
            key: "gain_db",
            default: "[-6, 6]",
            about: "range of the level change, dB",
        },
        Param {
            key: "max_shift",
            default: "80",
            about: "largest time shift either way, samples (zero padded)",
        },
    ],
    parse,
};

/// The defence's parameters (ranges as `[low, high]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RoomSpec {
    pub length: [f64; 2],
    pub width: [f64; 2],
    pub height: [f64; 2],
    pub absorption: [f64; 2],
    pub wall_margin: f64,
    pub max_order: u32,
    pub ir_seconds: f64,
    pub snr_db: [f64; 2],
    pub gain_db: [f64; 2],
    pub max_shift: usize,
}

impl Default for RoomSpec {
    fn default() -> Self {
        Self {
            length: [3.0, 8.0],
            width: [3.0, 8.0],
            height: [2.5, 4.0],
            absorption: [0.2, 0.8],
            wall_margin: 0.5,
            max_order: 12,
            ir_seconds: 0.25,
            snr_db: [20.0, 40.0],
            gain_db: [-6.0, 6.0],
            max_shift: 80,
        }
    }
}

fn parse(p: &mut Params) -> Result<Box<dyn DefenceSpec>> {
    let d = RoomSpec::default();
    let range =
        |p: &mut Params, key: &str, default: [f64; 2], lo: f64, hi: f64| -> Result<[f64; 2]> {
            let r: [f64; 2] = p.take_or(key, default)?;
            if !(r[0].is_finite() && r[1].is_finite() && lo <= r[0] && r[0] <= r[1] && r[1] <= hi) {
                return Err(Error::invalid(
                    p.display(key),
                    format!("[low, high] with {lo} <= low <= high <= {hi}, got {r:?}"),
                ));
            }
            Ok(r)
        };
    let length = range(p, "length", d.length, 0.1, 1000.0)?;
    let width = range(p, "width", d.width, 0.1, 1000.0)?;
    let height = range(p, "height", d.height, 0.1, 1000.0)?;
    let absorption = range(p, "absorption", d.absorption, 0.0, 1.0)?;
    let wall_margin: f64 = p.take_or("wall_margin", d.wall_margin)?;
    let smallest = length[0].min(width[0]).min(height[0]);
    if !(wall_margin.is_finite() && wall_margin >= 0.0 && 2.0 * wall_margin < smallest) {
        return Err(Error::invalid(
            p.display("wall_margin"),
            format!(
                "at least 0 and under half the smallest room side ({smallest} m), got {wall_margin}"
            ),
        ));
    }
    let max_order: u32 = p.take_or("max_order", d.max_order)?;
    if max_order > 50 {
        return Err(Error::invalid(
            p.display("max_order"),
            format!("at most 50 reflections (the images grow as its cube), got {max_order}"),
        ));
    }
    let ir_seconds: f64 = p.take_or("ir_seconds", d.ir_seconds)?;
    if !(ir_seconds > 0.0 && ir_seconds <= 2.0) {
        return Err(Error::invalid(
            p.display("ir_seconds"),
            format!("in (0, 2] seconds (it bounds every allocation), got {ir_seconds}"),
        ));
    }
    let snr_db = range(p, "snr_db", d.snr_db, -40.0, 200.0)?;
    let gain_db = range(p, "gain_db", d.gain_db, -60.0, 60.0)?;
    let max_shift: usize = p.take_or("max_shift", d.max_shift)?;
    Ok(Box::new(RoomSpec {
        length,
        width,
        height,
        absorption,
        wall_margin,
        max_order,
        ir_seconds,
        snr_db,
        gain_db,
        max_shift,
    }))
}

impl DefenceSpec for RoomSpec {
    fn name(&self) -> &'static str {
        "room"
    }

    /// Audio models with a sample rate only (the room's delays are in seconds).
    fn build(&self, input: &InputConfig) -> Result<Box<dyn Preprocessor>> {
        let [channels, samples] = audio_shape(input, "room")?;
        let rate = sample_rate(input, "room")?;
        if self.max_shift >= samples {
            return Err(Error::invalid(
                "room.max_shift",
                format!("under the clip's {samples} samples, got {}", self.max_shift),
            ));
        }
        Ok(Box::new(RoomChannel::new(
            self.clone(),
            rate,
            channels,
            samples,
            input.clip_range(),
        )))
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }

    fn randomised(&self) -> bool {
        true
    }
}

/// One example's channel in one pass.
#[derive(Clone, Debug)]
pub struct Draw {
    pub room: Room,
    pub ir: Vec<f32>,
    pub snr_db: f64,
    pub gain: f32,
    /// Positive: the clip starts later.
    pub shift: i64,
}

/// How many passes' draws are kept for their backward passes.
const KEPT: usize = 16;

/// The transformation; see the module docs.
pub struct RoomChannel {
    pub spec: RoomSpec,
    pub sample_rate: u32,
    pub channels: usize,
    pub samples: usize,
    pub clip: Option<(f32, f32)>,
    /// The latest passes' draws by the fingerprint of their input, newest last.
    kept: Mutex<VecDeque<(u64, Arc<Vec<Draw>>)>>,
}

impl RoomChannel {
    pub fn new(
        spec: RoomSpec,
        sample_rate: u32,
        channels: usize,
        samples: usize,
        clip: Option<(f32, f32)>,
    ) -> Self {
        Self {
            spec,
            sample_rate,
            channels,
            samples,
            clip,
            kept: Mutex::new(VecDeque::new()),
        }
    }

    /// One example's draw from `rng` (its impulse response computed later, off the stream).
    fn draw_room(&self, rng: &mut ChaCha8Rng) -> (Room, f64, f32, i64) {
        let s = &self.spec;
        let mut uniform = |r: [f64; 2]| {
            if r[1] > r[0] {
                rng.random_range(r[0]..r[1])
            } else {
                r[0]
            }
        };
        let size = [uniform(s.length), uniform(s.width), uniform(s.height)];
        let mut beta = [0.0; 6];
        for b in &mut beta {
            *b = reflection_from_absorption(uniform(s.absorption));
        }
        let m = s.wall_margin;
        let mut point = [0.0; 3];
        let mut mic = [0.0; 3];
        for a in 0..3 {
            point[a] = uniform([m, size[a] - m]);
        }
        for a in 0..3 {
            mic[a] = uniform([m, size[a] - m]);
        }
        let snr_db = uniform(s.snr_db);
        let gain = 10f64.powf(uniform(s.gain_db) / 20.0) as f32;
        let k = s.max_shift as i64;
        let shift = rng.random_range(-k..=k);
        let room = Room {
            size,
            beta,
            source: point,
            mic,
        };
        (room, snr_db, gain, shift)
    }

    /// The draws a forward pass made on `x`, if still kept.
    pub fn last_draws(&self, x: &Tensor<2>) -> Option<Arc<Vec<Draw>>> {
        let key = fingerprint(x);
        let kept = self.kept.lock().expect("not poisoned");
        kept.iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.clone())
    }
}

/// A hash of a batch's shape and values: which forward pass a backward pass belongs to.
fn fingerprint(x: &Tensor<2>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    x.dims().hash(&mut h);
    for v in tensor_to_vec(x.clone()) {
        v.to_bits().hash(&mut h);
    }
    h.finish()
}

/// `y[t] = x[t − shift]`, zero outside.
fn shifted(x: &[f32], shift: i64) -> Vec<f32> {
    let n = x.len() as i64;
    (0..n)
        .map(|t| {
            let u = t - shift;
            if (0..n).contains(&u) {
                x[u as usize]
            } else {
                0.0
            }
        })
        .collect()
}

impl Preprocessor for RoomChannel {
    fn name(&self) -> &str {
        "room"
    }

    /// A draw per example from `rng`, in order, then the noise per sample; the rooms' responses and
    /// convolutions run in parallel. The input tensor is not touched.
    fn forward(&self, x: Tensor<2>, rng: &mut ChaCha8Rng) -> Result<Tensor<2>> {
        let [n, d] = x.dims();
        let device = x.device();
        let key = fingerprint(&x);
        let host = tensor_to_vec(x);
        let rooms: Vec<_> = (0..n).map(|_| self.draw_room(rng)).collect();
        let noise: Vec<f32> = (0..n * d).map(|_| rng.sample(StandardNormal)).collect();
        let max_len = ((self.spec.ir_seconds * f64::from(self.sample_rate)).ceil() as usize)
            .clamp(1, self.samples);
        let draws: Vec<Draw> = rooms
            .into_par_iter()
            .map(|(room, snr_db, gain, shift)| {
                let ir = room.impulse_response(self.sample_rate, self.spec.max_order, max_len)?;
                Ok(Draw {
                    room,
                    ir,
                    snr_db,
                    gain,
                    shift,
                })
            })
            .collect::<Result<_>>()?;
        let rows: Vec<Vec<f32>> = host
            .par_chunks(d.max(1))
            .zip(noise.par_chunks(d.max(1)))
            .zip(draws.par_iter())
            .map(|((row, z), draw)| {
                let mut out: Vec<f32> = Vec::with_capacity(d);
                for run in row.chunks(self.samples.max(1)) {
                    let wet = convolve_truncated(run, &draw.ir);
                    out.extend(shifted(&wet, draw.shift).iter().map(|v| v * draw.gain));
                }
                let power =
                    out.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / d.max(1) as f64;
                let sigma = (power / 10f64.powf(draw.snr_db / 10.0)).sqrt() as f32;
                for (v, z) in out.iter_mut().zip(z) {
                    *v += sigma * z;
                    if let Some((lo, hi)) = self.clip {
                        *v = v.clamp(lo, hi);
                    }
                }
                out
            })
            .collect();
        let mut kept = self.kept.lock().expect("not poisoned");
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back((key, Arc::new(draws)));
        drop(kept);
        Ok(Tensor::from_data(
            TensorData::new(rows.concat(), [n, d]),
            &device,
        ))
    }

    /// The exact transpose of the pass that saw `x_in` (module docs); the identity (BPDA) if that
    /// pass's draws are no longer kept, which only many passes in between can cause.
    fn backward(&self, x_in: &Tensor<2>, grad: Tensor<2>) -> Tensor<2> {
        let Some(draws) = self.last_draws(x_in) else {
            return grad;
        };
        let [n, d] = grad.dims();
        let device = grad.device();
        let g = tensor_to_vec(grad);
        let rows: Vec<Vec<f32>> = g
            .par_chunks(d.max(1))
            .zip(draws.par_iter())
            .map(|(row, draw)| {
                let mut out = Vec::with_capacity(d);
                for run in row.chunks(self.samples.max(1)) {
                    let back: Vec<f32> = shifted(run, -draw.shift)
                        .into_iter()
                        .map(|v| v * draw.gain)
                        .collect();
                    out.extend(correlate_truncated(&back, &draw.ir));
                }
                out
            })
            .collect();
        debug_assert_eq!(rows.len(), n);
        Tensor::from_data(TensorData::new(rows.concat(), [n, d]), &device)
    }

    fn randomised(&self) -> bool {
        true
    }
}
