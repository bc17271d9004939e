//! A spoken-digit stand-in for AudioMNIST, synthesised with the TTS engines in Debian's main
//! archive (espeak-ng, flite, festival) and written in AudioMNIST's exact layout.
//!
//! AudioMNIST itself cannot be redistributed with avfoil, but its layout and levels can be
//! imitated: `data/<NN>/<digit>_<NN>_<rep>.wav`, 48 kHz 16-bit mono, peaks between -34 and -22
//! dBFS, at most 0.99 s, plus `audioMNIST_meta.txt`. Each "speaker" is one engine voice with its
//! own base pitch and rate; each repetition jitters both, so a speaker's clips differ the way a
//! person's do. Every random choice comes from the seed and the speaker id, so the same command
//! writes the same bytes, and (with the same engines installed) speaker 21 comes out the same
//! whether generated in a run of `01..40` or in one that starts at `--first-speaker 21`.
//!
//! The engines only synthesise; trimming, resampling, gain and padding happen here in Rust.

mod engine;

pub use engine::{Engine, Programs};

use crate::audio::resample::resample;
use crate::audio::wav::{WavEncoding, read_wav, write_wav};
use crate::data::audiomnist::{META_FILE, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use engine::Request;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The longest clip written, in samples at 48 kHz (0.99 s): AudioMNIST's loaders pad to 1 s.
pub const MAX_SAMPLES: usize = 47_520;
/// Peak levels are drawn from this range (dBFS): the real recordings are that quiet.
pub const LEVEL_DB: (f64, f64) = (-34.0, -22.0);
/// Silence added before and after the speech, in samples at 48 kHz (20-100 ms).
pub const PAD_SAMPLES: (usize, usize) = (960, 4800);
/// Frames quieter than this relative to the clip's peak (dB) are trimmed from both ends.
const SILENCE_DB: f64 = -42.0;
/// How many times a clip that is too long is re-synthesised faster before it is cropped.
const MAX_RESYNTHESES: usize = 2;
/// The highest speaker id: AudioMNIST's ids are two digits.
pub const MAX_SPEAKER: u32 = 99;

/// The words spoken, indexed by digit.
const WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// How a voice's pitch is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PitchControl {
    /// espeak-ng's `-p`: 0-99 around the variant's own pitch.
    Espeak,
    /// An F0 target mean in Hz that the engine honours (flite's `int_f0_target_mean`, festival's
    /// `int_lr_params`). `default_hz` is what the voice uses unasked (measured for flite), and
    /// `default_std` the spread festival's diphone voices use, scaled along with the mean.
    F0Mean { default_hz: f64, default_std: f64 },
    /// The engine ignores pitch settings (flite rms, festival's HTS voice; measured: identical
    /// output), so the clip is resampled as if played at a different tape speed: pitch and formants
    /// scale by the factor, and the engine stretches the duration by it beforehand to compensate.
    Tape,
}

/// One synthetic voice: an engine and its voice name (espeak-ng `accent+variant`).
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    pub engine: Engine,
    pub name: String,
    /// As the meta file's `accent` spells it.
    pub accent: &'static str,
    /// `"male"` or `"female"`.
    pub gender: &'static str,
    pub pitch: PitchControl,
}

/// Pitch and rate of one clip (or a speaker's base), in the engine's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prosody {
    /// espeak-ng: `-p` (0-99); [`PitchControl::F0Mean`]: Hz; [`PitchControl::Tape`]: the factor.
    pub pitch: f64,
    /// espeak-ng: words per minute; flite and festival: duration stretch (> 1 is slower).
    pub rate: f64,
}

impl Voice {
    /// Units of [`Prosody::pitch`] for this voice, for the meta file.
    pub fn pitch_unit(&self) -> &'static str {
        match self.pitch {
            PitchControl::Espeak => "espeak-ng -p (0-99)",
            PitchControl::F0Mean { .. } => "target F0 mean (Hz)",
            PitchControl::Tape => "resampling factor",
        }
    }

    /// Units of [`Prosody::rate`] for this voice, for the meta file.
    pub fn rate_unit(&self) -> &'static str {
        match self.engine {
            Engine::EspeakNg => "words per minute",
            _ => "duration stretch",
        }
    }

    /// `prosody` sped up by `factor` (> 1): how a clip that came out too long is re-synthesised.
    fn faster(&self, prosody: Prosody, factor: f64) -> Prosody {
        let rate = match self.engine {
            Engine::EspeakNg => prosody.rate * factor,
            _ => prosody.rate / factor,
        };
        Prosody { rate, ..prosody }
    }
}

/// espeak-ng accents (voice name, meta `accent`). en-gb-x-gbcwmd and en-029 are left out: they
/// were the least intelligible to pocketsphinx in the prototype (0.56 and 0.69 of 10-way choices).
const ESPEAK_ACCENTS: [(&str, &str); 6] = [
    ("en-us", "american"),
    ("en-gb", "british"),
    ("en-us-nyc", "new york"),
    ("en-gb-scotland", "scottish"),
    ("en-gb-x-rp", "received pronunciation"),
    ("en-gb-x-gbclan", "lancastrian"),
];

/// espeak-ng variants, most intelligible first (prototype: klatt 0.96, klatt3 0.94, f2 0.88, ...).
const ESPEAK_VARIANTS: [&str; 14] = [
    "klatt", "klatt3", "f2", "m1", "m3", "f4", "klatt2", "m2", "f3", "klatt4", "m4", "f1", "m5",
    "klatt5",
];

/// flite's voices (name, accent, gender, pitch). The F0 defaults are where setting
/// `int_f0_target_mean` leaves the measured median F0 unchanged; rms ignores the setting.
const FLITE_VOICES: [(&str, &str, &str, PitchControl); 4] = [
    ("kal16", "american", "male", f0_mean(95.0, 0.0)),
    ("awb", "scottish", "male", f0_mean(130.0, 0.0)),
    ("rms", "american", "male", PitchControl::Tape),
    ("slt", "american", "female", f0_mean(173.0, 0.0)),
];

/// festival's voices from main (festvox-kallpc16k, -kdlpc16k, -us-slt-hts), with the diphone
/// voices' own `int_lr_params` targets.
const FESTIVAL_VOICES: [(&str, &str, &str, PitchControl); 3] = [
    ("kal_diphone", "american", "male", f0_mean(105.0, 14.0)),
    ("ked_diphone", "american", "male", f0_mean(105.0, 15.0)),
    (
        "cmu_us_slt_arctic_hts",
        "american",
        "female",
        PitchControl::Tape,
    ),
];

const fn f0_mean(default_hz: f64, default_std: f64) -> PitchControl {
    PitchControl::F0Mean {
        default_hz,
        default_std,
    }
}

/// The voices of one engine, in roster order. espeak-ng's 84 accent × variant pairs are ordered so
/// that neighbours differ in both (`j = 6q + a` gets accent `a` and variant `(q + a) % 14`).
fn engine_voices(engine: Engine) -> Vec<Voice> {
    let table = |t: &[(&str, &'static str, &'static str, PitchControl)]| -> Vec<Voice> {
        t.iter()
            .map(|&(name, accent, gender, pitch)| Voice {
                engine,
                name: name.into(),
                accent,
                gender,
                pitch,
            })
            .collect()
    };
    match engine {
        Engine::EspeakNg => (0..ESPEAK_ACCENTS.len() * ESPEAK_VARIANTS.len())
            .map(|j| {
                let (q, a) = (j / ESPEAK_ACCENTS.len(), j % ESPEAK_ACCENTS.len());
                let (accent_name, accent) = ESPEAK_ACCENTS[a];
                let variant = ESPEAK_VARIANTS[(q + a) % ESPEAK_VARIANTS.len()];
                Voice {
                    engine,
                    name: format!("{accent_name}+{variant}"),
                    accent,
                    gender: if variant.starts_with('f') {
                        "female"
                    } else {
                        "male"
                    },
                    pitch: PitchControl::Espeak,
                }
            })
            .collect(),
        Engine::Flite => table(&FLITE_VOICES),
        Engine::Festival => table(&FESTIVAL_VOICES),
    }
}

/// Each usable engine with the voice names its probe listed.
pub type Installed = BTreeMap<Engine, Vec<String>>;

/// The roster: every usable voice, taken round-robin over the engines (in [`Engine::ALL`] order)
/// so that any prefix mixes engines. `installed` maps each usable engine to the voices its probe
/// listed (empty for espeak-ng, whose voices ship with it).
pub fn roster(installed: &Installed) -> Vec<Voice> {
    let groups: Vec<Vec<Voice>> = Engine::ALL
        .into_iter()
        .filter_map(|e| {
            let listed = installed.get(&e)?;
            let voices: Vec<Voice> = engine_voices(e)
                .into_iter()
                .filter(|v| e == Engine::EspeakNg || listed.contains(&v.name))
                .collect();
            (!voices.is_empty()).then_some(voices)
        })
        .collect();
    let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| groups.iter().filter_map(move |g| g.get(i).cloned()))
        .collect()
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct SpokenDigitsOptions {
    /// The output folder; clips go to `out/data/NN/`.
    pub out: PathBuf,
    /// How many speakers (ids `first_speaker ..`, at most [`MAX_SPEAKER`]).
    pub speakers: u32,
    /// Repetitions of each digit per speaker.
    pub repetitions: u32,
    pub seed: u64,
    /// `None`: every engine that is installed; `Some`: exactly these, each of which must be.
    pub engines: Option<Vec<Engine>>,
    /// The first speaker id (1 for `01`). Speaker `id` always gets roster entry `id - 1` and the
    /// same random draws, so a corpus can be extended speaker range by speaker range.
    pub first_speaker: u32,
    /// Program names; tests point one at a binary that does not exist.
    pub programs: Programs,
}

impl SpokenDigitsOptions {
    /// Options with the defaults of the command line: seed 0, every installed engine, from `01`.
    pub fn new(out: impl Into<PathBuf>, speakers: u32, repetitions: u32) -> Self {
        Self {
            out: out.into(),
            speakers,
            repetitions,
            seed: 0,
            engines: None,
            first_speaker: 1,
            programs: Programs::default(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.speakers == 0 {
            return Err(Error::invalid("speakers", "must be at least 1"));
        }
        if self.repetitions == 0 {
            return Err(Error::invalid("repetitions", "must be at least 1"));
        }
        if !(1..=MAX_SPEAKER).contains(&self.first_speaker) {
            return Err(Error::invalid(
                "first-speaker",
                format!(
                    "must be 1-{MAX_SPEAKER}, got {} (ids are two digits)",
                    self.first_speaker
                ),
            ));
        }
        let last = self.first_speaker as u64 + self.speakers as u64 - 1;
        if last > MAX_SPEAKER as u64 {
            return Err(Error::invalid(
                "speakers",
                format!(
                    "{} speakers from id {:02} would end at {last}; AudioMNIST ids are two digits, so the last may be {MAX_SPEAKER}",
                    self.speakers, self.first_speaker
                ),
            ));
        }
        Ok(())
    }
}

/// One clip to make.
#[derive(Clone, Debug, PartialEq)]
struct ClipPlan {
    digit: usize,
    repetition: u32,
    prosody: Prosody,
    level_db: f64,
    pads: (usize, usize),
}

/// One speaker: a voice, its base prosody, and every clip's draws.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeakerPlan {
    /// 1-99; written as `NN`.
    pub id: u32,
    pub voice: Voice,
    /// The base pitch and rate each repetition jitters around.
    pub base: Prosody,
    /// A plausible age for the meta file; it means nothing for a synthetic voice.
    pub age: u32,
    clips: Vec<ClipPlan>,
}

impl SpeakerPlan {
    /// The speaker folder name, `NN`.
    pub fn folder(&self) -> String {
        format!("{:02}", self.id)
    }

    /// Draws everything for speaker `id` from its own stream of the seed: the base prosody and age
    /// first, then clip by clip, repetition-major, so adding repetitions leaves earlier ones alone.
    fn draw(id: u32, voice: Voice, seed: u64, repetitions: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(id as u64);
        let base = draw_base(&voice, &mut rng);
        let age = rng.random_range(20..=60);
        let mut clips = Vec::with_capacity(repetitions as usize * WORDS.len());
        for repetition in 0..repetitions {
            for digit in 0..WORDS.len() {
                let prosody = jitter(&voice, base, &mut rng);
                let level_db = rng.random_range(LEVEL_DB.0..=LEVEL_DB.1);
                let pads = (
                    rng.random_range(PAD_SAMPLES.0..=PAD_SAMPLES.1),
                    rng.random_range(PAD_SAMPLES.0..=PAD_SAMPLES.1),
                );
                clips.push(ClipPlan {
                    digit,
                    repetition,
                    prosody,
                    level_db,
                    pads,
                });
            }
        }
        Self {
            id,
            voice,
            base,
            age,
            clips,
        }
    }

    /// The speaker's entry in `audioMNIST_meta.txt`: AudioMNIST's keys, plus the synthesiser.
    fn meta(&self, seed: u64) -> Value {
        let v = &self.voice;
        json!({
            "accent": v.accent,
            "age": self.age.to_string(),
            "gender": v.gender,
            "native speaker": "yes",
            "origin": format!("synthetic, {} {}", v.engine, v.name),
            "recordingdate": "70-01-01-00-00-00",
            "recordingroom": "tts",
            "synthesizer": {
                "engine": v.engine.name(),
                "voice": v.name,
                "pitch": number(self.base.pitch),
                "rate": number(self.base.rate),
                "pitch_unit": v.pitch_unit(),
                "rate_unit": v.rate_unit(),
                "seed": seed,
            },
        })
    }
}

/// A JSON number, written as an integer where it is one (espeak-ng's settings are).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// A speaker's base prosody. espeak-ng: `-p` 30-70, 140-185 wpm. Others: duration stretch
/// 0.9-1.15, and F0 within ±15 % of the voice's default or a tape factor of 0.92-1.04. The tape
/// factor moves the formants too, and upwards that hurts: pocketsphinx's 10-way accuracy on the
/// HTS voice fell from 1.0 to 0.7-0.9 for factors above 1.05 (measured, 20 clips per speaker).
fn draw_base(voice: &Voice, rng: &mut ChaCha8Rng) -> Prosody {
    if voice.engine == Engine::EspeakNg {
        return Prosody {
            pitch: rng.random_range(30..=70) as f64,
            rate: rng.random_range(140..=185) as f64,
        };
    }
    let pitch = match voice.pitch {
        PitchControl::F0Mean { default_hz, .. } => {
            round_to(default_hz * rng.random_range(0.85..=1.15), 0.1, 1)
        }
        _ => round_to(rng.random_range(0.92..=1.04), 0.005, 3),
    };
    let rate = round_to(rng.random_range(0.9..=1.15), 0.001, 3);
    Prosody { pitch, rate }
}

/// A repetition's prosody around the base. espeak-ng: `-p` ±8, rate ±12 wpm. Others: stretch
/// ±8 %, F0 ±3 %, tape ±2 % (quantised to 0.5 % steps so the resampler's ratio stays small).
fn jitter(voice: &Voice, base: Prosody, rng: &mut ChaCha8Rng) -> Prosody {
    if voice.engine == Engine::EspeakNg {
        return Prosody {
            pitch: (base.pitch + rng.random_range(-8..=8) as f64).clamp(0.0, 99.0),
            rate: base.rate + rng.random_range(-12..=12) as f64,
        };
    }
    let pitch = match voice.pitch {
        PitchControl::F0Mean { .. } => base.pitch * rng.random_range(0.97..=1.03),
        _ => round_to(base.pitch * rng.random_range(0.98..=1.02), 0.005, 3),
    };
    let rate = base.rate * rng.random_range(0.92..=1.08);
    Prosody { pitch, rate }
}

/// `x` to a multiple of `step`, through a decimal string so that it prints as short as it reads
/// (`1.126`, not `1.1260000000000001`) in the meta file.
fn round_to(x: f64, step: f64, decimals: usize) -> f64 {
    format!("{:.decimals$}", (x / step).round() * step)
        .parse()
        .expect("a formatted float parses")
}

/// Engine availability, the roster and every speaker's draws, before anything is synthesised.
#[derive(Clone, Debug)]
pub struct SpokenDigitsPlan {
    options: SpokenDigitsOptions,
    speakers: Vec<SpeakerPlan>,
    skipped: Vec<String>,
}

impl SpokenDigitsPlan {
    /// Probes the engines and draws every speaker. Errors: invalid options; a requested engine
    /// missing; with default engines, none installed. Each names the Debian packages to install.
    pub fn new(options: SpokenDigitsOptions) -> Result<Self> {
        options.validate()?;
        let (installed, skipped) = find_engines(options.engines.as_deref(), &options.programs)?;
        let roster = roster(&installed);
        if roster.is_empty() {
            return Err(Error::Unsupported(
                "no usable voice found in the installed engines".into(),
            ));
        }
        let speakers = (0..options.speakers)
            .map(|i| {
                let id = options.first_speaker + i;
                let voice = roster[(id as usize - 1) % roster.len()].clone();
                SpeakerPlan::draw(id, voice, options.seed, options.repetitions)
            })
            .collect::<Vec<_>>();
        check_existing_speakers(&options.out.join("data"), &speakers)?;
        Ok(Self {
            options,
            speakers,
            skipped,
        })
    }

    /// Engines (or voices) left out and why, for the user to read.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The speakers to generate.
    pub fn speakers(&self) -> &[SpeakerPlan] {
        &self.speakers
    }

    /// How many clips [`Self::run`] writes.
    pub fn clip_count(&self) -> usize {
        self.speakers.iter().map(|s| s.clips.len()).sum()
    }

    /// Synthesises and writes every clip, speakers in parallel, then the meta file (merged into an
    /// existing one, so a corpus can be extended). `progress` is called once per clip written.
    /// Clips are written to a hidden folder and moved into the speaker folders only when every
    /// speaker is done, so an error (an engine failing midway) leaves the corpus as it was.
    pub fn run(&self, progress: &(dyn Fn() + Sync)) -> Result<Summary> {
        let data = self.options.out.join("data");
        let staging = crate::fs::StagingDir::new(&data)?;
        let reports = self
            .speakers
            .par_iter()
            .map(|s| generate_speaker(s, &self.options.programs, staging.path(), progress))
            .collect::<Result<Vec<_>>>()?;
        for s in &self.speakers {
            move_clips(&staging.path().join(s.folder()), &data.join(s.folder()))?;
        }
        write_meta(&data.join(META_FILE), &self.speakers, self.options.seed)?;
        Ok(Summary::new(&self.speakers, reports))
    }
}

/// Probes the engines. Returns the usable ones with the voices they list, and notes on what was
/// left out (engines, or single voices of an engine). A requested engine that is missing, or none
/// at all when none was requested, is an error naming the packages to install.
fn find_engines(
    requested: Option<&[Engine]>,
    programs: &Programs,
) -> Result<(Installed, Vec<String>)> {
    let wanted: Vec<Engine> = match requested {
        Some([]) => return Err(Error::invalid("engines", "list is empty")),
        Some(list) => Engine::ALL
            .into_iter()
            .filter(|e| list.contains(e))
            .collect(),
        None => Engine::ALL.to_vec(),
    };
    let mut installed = BTreeMap::new();
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    for engine in wanted {
        match engine::probe(engine, programs.get(engine)).and_then(|v| usable(engine, v)) {
            Ok(voices) => {
                notes.extend(missing_voices(engine, &voices));
                installed.insert(engine, voices);
            }
            Err(why) => missing.push(format!(
                "{engine}: {why}; install it with `{}`",
                engine.install_hint()
            )),
        }
    }
    if installed.is_empty() || (requested.is_some() && !missing.is_empty()) {
        return Err(Error::Unsupported(format!(
            "TTS engine not available: {}",
            missing.join("; ")
        )));
    }
    missing.extend(notes);
    Ok((installed, missing))
}

/// Checks that a probed engine has at least one roster voice.
fn usable(engine: Engine, listed: Vec<String>) -> std::result::Result<Vec<String>, String> {
    if engine == Engine::EspeakNg
        || engine_voices(engine)
            .iter()
            .any(|v| listed.contains(&v.name))
    {
        return Ok(listed);
    }
    Err(format!(
        "none of the voices {} is installed (found: {})",
        roster_names(engine).join(", "),
        listed.join(" ")
    ))
}

/// A note naming the roster voices an installed engine lacks, if any.
fn missing_voices(engine: Engine, listed: &[String]) -> Option<String> {
    if engine == Engine::EspeakNg {
        return None;
    }
    let absent: Vec<String> = roster_names(engine)
        .into_iter()
        .filter(|n| !listed.contains(n))
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{engine} voices {}: not installed, the others are used; `{}` installs them",
            absent.join(", "),
            engine.install_hint()
        )
    })
}

fn roster_names(engine: Engine) -> Vec<String> {
    engine_voices(engine).into_iter().map(|v| v.name).collect()
}

/// What happened to one speaker's clips.
#[derive(Clone, Debug, Default)]
struct SpeakerReport {
    /// Speech length (after trimming, before padding) of each clip, in seconds.
    speech_seconds: Vec<f64>,
    fits: Vec<Fit>,
}

/// How a clip was made to fit in [`MAX_SAMPLES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// Speech and drawn padding fit.
    AsDrawn,
    /// The padding was shortened (each side still ≥ 20 ms).
    PadsShortened,
    /// The speech was re-synthesised faster (once or more).
    Resynthesised,
    /// Still too long after re-synthesis: cut with a fade-out.
    Cropped,
}

/// Synthesises, post-processes and writes one speaker's clips.
fn generate_speaker(
    speaker: &SpeakerPlan,
    programs: &Programs,
    data: &Path,
    progress: &(dyn Fn() + Sync),
) -> Result<SpeakerReport> {
    let folder = data.join(speaker.folder());
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    let tmp = tempfile::Builder::new()
        .prefix("avfoil-tts-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let program = programs.get(speaker.voice.engine);
    let requests: Vec<Request> = speaker
        .clips
        .iter()
        .enumerate()
        .map(|(i, c)| Request {
            word: WORDS[c.digit],
            prosody: c.prosody,
            out: tmp.path().join(format!("{i}.wav")),
        })
        .collect();
    engine::synthesize(&speaker.voice, program, &requests, tmp.path())?;
    let mut report = SpeakerReport::default();
    for (clip, request) in speaker.clips.iter().zip(&requests) {
        let (samples, speech_len, fit) =
            make_clip(&speaker.voice, program, clip, request, tmp.path())?;
        let name = format!(
            "{}_{}_{}.wav",
            clip.digit,
            speaker.folder(),
            clip.repetition
        );
        write_wav(
            &folder.join(name),
            SAMPLE_RATE,
            &samples,
            WavEncoding::Int16,
        )?;
        report
            .speech_seconds
            .push(speech_len as f64 / SAMPLE_RATE as f64);
        report.fits.push(fit);
        progress();
    }
    Ok(report)
}

/// Moves one speaker's finished clips from the staging folder into its corpus folder, then
/// deletes the clips an earlier run left there that this one did not write.
fn move_clips(staged: &Path, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    let mut written = Vec::new();
    for entry in std::fs::read_dir(staged).map_err(|e| Error::io(staged, e))? {
        let from = entry.map_err(|e| Error::io(staged, e))?.path();
        let name = from.file_name().expect("a directory entry has a name");
        let to = folder.join(name);
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        written.push(name.to_string_lossy().into_owned());
    }
    let speaker = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_clips(folder, &speaker, &written)
}

/// Refuses to regenerate a speaker folder that holds clips avfoil did not make: AudioMNIST's own
/// recordings use the same folder and file names, and their meta entries have no `synthesizer`.
fn check_existing_speakers(data: &Path, speakers: &[SpeakerPlan]) -> Result<()> {
    let meta_path = data.join(META_FILE);
    let meta: Map<String, Value> = std::fs::read_to_string(&meta_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    for s in speakers {
        let folder = data.join(s.folder());
        let holds_clips = std::fs::read_dir(&folder).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wav")))
        });
        let ours = meta
            .get(&s.folder())
            .and_then(|e| e.get("synthesizer"))
            .is_some();
        if holds_clips && !ours {
            return Err(Error::invalid(
                "out",
                format!(
                    "{} already holds recordings that avfoil did not synthesise (speaker {} has no \
                     `synthesizer` entry in {}); `avfoil data spoken-digits` never overwrites \
                     them: choose another --out, or a --first-speaker past the existing speakers",
                    folder.display(),
                    s.folder(),
                    meta_path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Deletes this speaker's clips left by an earlier run with more repetitions, so the folder holds
/// exactly this run's clips and agrees with the meta file. Only `<digit>_<NN>_<rep>.wav` names are
/// touched; anything else in the folder stays.
fn remove_stale_clips(folder: &Path, speaker: &str, written: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(folder, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if is_clip_name(name, speaker) && !written.iter().any(|w| w == name) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Whether `name` is `<digit>_<speaker>_<rep>.wav`.
fn is_clip_name(name: &str, speaker: &str) -> bool {
    let Some(stem) = name.strip_suffix(".wav") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('_').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [d, s, r] if d.len() == 1 && digits(d) && *s == speaker && digits(r))
}

/// Turns the engine's file into the final clip, re-synthesising faster while the speech is too
/// long to fit with minimal padding, and cropping as a last resort. Returns the clip, the speech
/// length in samples, and how it was made to fit.
fn make_clip(
    voice: &Voice,
    program: &str,
    clip: &ClipPlan,
    first: &Request,
    workdir: &Path,
) -> Result<(Vec<f32>, usize, Fit)> {
    let mut request = first.clone();
    let mut speech = load_speech(voice, &request)?;
    for attempt in 1..=MAX_RESYNTHESES {
        if speech.len() + 2 * PAD_SAMPLES.0 <= MAX_SAMPLES {
            let fit = if attempt > 1 {
                Fit::Resynthesised
            } else {
                Fit::AsDrawn
            };
            return Ok(finish(&speech, clip, fit));
        }
        let needed = speech.len() as f64 / (MAX_SAMPLES - 2 * PAD_SAMPLES.0) as f64;
        request = Request {
            prosody: voice.faster(request.prosody, needed * 1.05),
            out: workdir.join(format!("retry{attempt}-{}", file_name(&first.out))),
            ..request
        };
        engine::synthesize(voice, program, std::slice::from_ref(&request), workdir)?;
        speech = load_speech(voice, &request)?;
    }
    let fit = if speech.len() + 2 * PAD_SAMPLES.0 <= MAX_SAMPLES {
        Fit::Resynthesised
    } else {
        Fit::Cropped
    };
    Ok(finish(&speech, clip, fit))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Pads (or crops) the speech into the final clip and sets its peak level. Returns the clip, the
/// speech length kept, and the fit (upgraded to [`Fit::PadsShortened`] where that was needed).
fn finish(speech: &[f32], clip: &ClipPlan, fit: Fit) -> (Vec<f32>, usize, Fit) {
    let (mut samples, speech_len, shortened) = place(speech, clip.pads);
    normalize_peak(&mut samples, clip.level_db);
    let fit = if fit == Fit::AsDrawn && shortened {
        Fit::PadsShortened
    } else {
        fit
    };
    (samples, speech_len, fit)
}

/// Reads the engine's WAV, trims silence, and resamples to 48 kHz (through the tape factor for
/// voices whose pitch the engine ignores). The level is not set yet.
fn load_speech(voice: &Voice, request: &Request) -> Result<Vec<f32>> {
    let wav = read_wav(&request.out)?;
    let rate = wav.sample_rate;
    let samples = wav.into_mono(&request.out)?;
    let speech = trim_silence(&samples, rate);
    if speech.is_empty() {
        return Err(Error::decode(
            &request.out,
            format!(
                "{} voice {} produced silence for {:?}",
                voice.engine, voice.name, request.word
            ),
        ));
    }
    let from = match voice.pitch {
        PitchControl::Tape => tape_rate(rate, request.prosody.pitch),
        _ => rate,
    };
    resample(speech, from, SAMPLE_RATE)
}

/// The rate to pretend a recording at `rate` has so that playing it at `rate` scales pitch by
/// `factor`. Quantised to 0.5 % steps so the resampling ratio reduces to small integers.
fn tape_rate(rate: u32, factor: f64) -> u32 {
    let steps = (factor * 200.0).round().max(1.0) as u64;
    (rate as u64 * steps / 200) as u32
}

/// Cuts leading and trailing 10 ms frames whose RMS is more than 42 dB below the clip's peak.
/// Frames rather than samples, so a lone click in the silence does not count as speech.
fn trim_silence(samples: &[f32], rate: u32) -> &[f32] {
    let peak = peak(samples);
    if peak == 0.0 {
        return &samples[..0];
    }
    let threshold = peak * db_to_gain(SILENCE_DB) as f32;
    let frame = (rate as usize / 100).max(1);
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt() >= threshold)
        .collect();
    match (loud.iter().position(|&l| l), loud.iter().rposition(|&l| l)) {
        (Some(first), Some(last)) => {
            &samples[first * frame..((last + 1) * frame).min(samples.len())]
        }
        _ => &samples[..0],
    }
}

/// Puts the drawn silence around the speech. If both do not fit in [`MAX_SAMPLES`], the padding
/// shrinks in proportion (each side keeps at least 20 ms); if the speech alone is too long for
/// that, its end is cut with a 10 ms fade-out. Returns the clip, the speech length kept, and
/// whether the padding was shortened.
fn place(speech: &[f32], pads: (usize, usize)) -> (Vec<f32>, usize, bool) {
    let min_pads = 2 * PAD_SAMPLES.0;
    if speech.len() + min_pads > MAX_SAMPLES {
        let mut kept = speech[..MAX_SAMPLES - min_pads].to_vec();
        fade_out(&mut kept, SAMPLE_RATE as usize / 100);
        let (clip, _, _) = place(&kept, (PAD_SAMPLES.0, PAD_SAMPLES.0));
        return (clip, kept.len(), true);
    }
    let (mut before, mut after) = pads;
    let shortened = speech.len() + before + after > MAX_SAMPLES;
    if shortened {
        let room = (MAX_SAMPLES - speech.len() - min_pads) as f64;
        let extra = (before + after - min_pads) as f64;
        before = PAD_SAMPLES.0 + ((before - PAD_SAMPLES.0) as f64 * room / extra) as usize;
        after = PAD_SAMPLES.0 + ((after - PAD_SAMPLES.0) as f64 * room / extra) as usize;
    }
    let mut clip = vec![0.0; before];
    clip.extend_from_slice(speech);
    clip.resize(clip.len() + after, 0.0);
    (clip, speech.len(), shortened)
}

/// A linear fade over the last `len` samples.
fn fade_out(samples: &mut [f32], len: usize) {
    let n = samples.len();
    let len = len.min(n);
    for (i, s) in samples[n - len..].iter_mut().enumerate() {
        *s *= 1.0 - (i + 1) as f32 / len as f32;
    }
}

/// Scales so the peak sits at `level_db` dBFS.
fn normalize_peak(samples: &mut [f32], level_db: f64) {
    let peak = peak(samples);
    if peak > 0.0 {
        let gain = db_to_gain(level_db) as f32 / peak;
        samples.iter_mut().for_each(|s| *s *= gain);
    }
}

fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0, |m, s| m.max(s.abs()))
}

fn db_to_gain(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Writes `audioMNIST_meta.txt` (4-space JSON, speakers sorted), keeping entries of speakers
/// already there that were not regenerated.
fn write_meta(path: &Path, speakers: &[SpeakerPlan], seed: u64) -> Result<()> {
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let existing: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
            Error::decode(
                path,
                format!("cannot merge into this meta file, it is not a JSON object: {e}"),
            )
        })?;
        entries.extend(existing);
    }
    for s in speakers {
        entries.insert(s.folder(), s.meta(seed));
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&entries, &mut ser)
        .map_err(|e| Error::decode(path, format!("cannot encode the meta file: {e}")))?;
    out.push(b'\n');
    write_atomic(path, &out)
}

/// Speech durations of one engine's clips (after trimming, before padding), in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct DurationStats {
    pub engine: Engine,
    pub clips: usize,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// What [`SpokenDigitsPlan::run`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub speakers: usize,
    pub clips: usize,
    /// Clips whose drawn silence was shortened to fit in 0.99 s.
    pub pads_shortened: usize,
    /// Clips re-synthesised faster to fit.
    pub resynthesised: usize,
    /// Clips cut with a fade-out because even faster speech did not fit.
    pub cropped: usize,
    pub durations: Vec<DurationStats>,
}

impl Summary {
    fn new(speakers: &[SpeakerPlan], reports: Vec<SpeakerReport>) -> Self {
        let count = |fit: Fit| {
            reports
                .iter()
                .flat_map(|r| &r.fits)
                .filter(|&&f| f == fit)
                .count()
        };
        let mut by_engine: BTreeMap<Engine, Vec<f64>> = BTreeMap::new();
        for (s, r) in speakers.iter().zip(&reports) {
            by_engine
                .entry(s.voice.engine)
                .or_default()
                .extend(&r.speech_seconds);
        }
        let durations = by_engine
            .into_iter()
            .map(|(engine, mut d)| {
                d.sort_by(f64::total_cmp);
                DurationStats {
                    engine,
                    clips: d.len(),
                    min: d[0],
                    median: d[d.len() / 2],
                    max: d[d.len() - 1],
                }
            })
            .collect();
        Self {
            speakers: speakers.len(),
            clips: reports.iter().map(|r| r.fits.len()).sum(),
            pads_shortened: count(Fit::PadsShortened),
            resynthesised: count(Fit::Resynthesised),
            cropped: count(Fit::Cropped),
            durations,
        }
    }
}

#[cfg(test)]
mod tests;
