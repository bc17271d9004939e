//! The three Debian TTS engines: finding them, listing their voices, and making them say a word.
//!
//! Each engine is an external program. Nothing here post-processes audio: the engines write their
//! own WAV files (espeak-ng 22.05 kHz, flite and festival's diphone voices 16 kHz, festival's HTS
//! voice 32 kHz) and the caller reads them back.

use super::{PitchControl, Prosody, Voice};
use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A speech synthesiser from Debian's main archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    /// Formant synthesis; many accents and voice variants.
    EspeakNg,
    /// CMU flite: one diphone and three cluster-unit voices.
    Flite,
    /// Festival with the festvox diphone and HTS voices.
    Festival,
}

impl Engine {
    /// Every engine, in roster order.
    pub const ALL: [Engine; 3] = [Engine::EspeakNg, Engine::Flite, Engine::Festival];

    /// The name used on the command line and in the meta file.
    pub fn name(self) -> &'static str {
        match self {
            Engine::EspeakNg => "espeak-ng",
            Engine::Flite => "flite",
            Engine::Festival => "festival",
        }
    }

    /// The Debian packages that provide the engine and the voices the roster uses.
    pub fn debian_packages(self) -> &'static str {
        match self {
            Engine::EspeakNg => "espeak-ng",
            Engine::Flite => "flite",
            Engine::Festival => "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts",
        }
    }

    /// The program run when [`Programs`] is left at its default.
    pub fn default_program(self) -> &'static str {
        self.name()
    }

    /// Parses an engine name as given to `--engines`.
    pub fn parse(s: &str) -> Result<Engine> {
        let s = s.trim();
        Engine::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid(
                    "engines",
                    format!("unknown engine {s:?}; expected espeak-ng, flite or festival"),
                )
            })
    }

    /// The advice printed when the engine or all of its voices are missing.
    pub fn install_hint(self) -> String {
        format!("apt-get install {}", self.debian_packages())
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The program run for each engine. Tests point one at a name that does not exist to check the
/// missing-engine error; a user could point one at a build outside `PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programs {
    pub espeak_ng: String,
    pub flite: String,
    pub festival: String,
}

impl Default for Programs {
    fn default() -> Self {
        Self {
            espeak_ng: Engine::EspeakNg.default_program().into(),
            flite: Engine::Flite.default_program().into(),
            festival: Engine::Festival.default_program().into(),
        }
    }
}

impl Programs {
    /// The program for `engine`.
    pub fn get(&self, engine: Engine) -> &str {
        match engine {
            Engine::EspeakNg => &self.espeak_ng,
            Engine::Flite => &self.flite,
            Engine::Festival => &self.festival,
        }
    }
}

/// What a probe found: the engine's voice names, or why it cannot be used.
pub(super) type Probe = std::result::Result<Vec<String>, String>;

/// Runs the engine's cheapest listing command. espeak-ng's English accents and variants ship with
/// the program, so `--version` is enough there; flite and festival list the voices actually
/// installed (festival's come from separate festvox packages).
pub(super) fn probe(engine: Engine, program: &str) -> Probe {
    let args: &[&str] = match engine {
        Engine::EspeakNg => &["--version"],
        Engine::Flite => &["-lv"],
        Engine::Festival => &["-b", "(print (voice.list))"],
    };
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            tail(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(match engine {
        Engine::EspeakNg => vec![],
        Engine::Flite => parse_flite_voices(&text),
        Engine::Festival => parse_festival_voices(&text),
    })
}

/// `flite -lv` prints `Voices available: kal awb_time kal16 awb rms slt`.
fn parse_flite_voices(text: &str) -> Vec<String> {
    let list = text.split_once(':').map_or(text, |(_, rest)| rest);
    list.split_whitespace().map(str::to_string).collect()
}

/// festival prints the voice list as a Lisp list: `(cmu_us_slt_arctic_hts ked_diphone kal_diphone)`.
fn parse_festival_voices(text: &str) -> Vec<String> {
    text.split(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One word to synthesise into one file.
#[derive(Clone, Debug)]
pub(super) struct Request {
    pub word: &'static str,
    pub prosody: Prosody,
    pub out: PathBuf,
}

/// Synthesises every request with `voice`; the WAV files appear at each request's `out`.
/// espeak-ng and flite start in milliseconds and run once per word; festival takes ~0.35 s to
/// start, so it runs once for the whole batch from a generated Scheme script.
pub(super) fn synthesize(
    voice: &Voice,
    program: &str,
    requests: &[Request],
    workdir: &Path,
) -> Result<()> {
    match voice.engine {
        Engine::EspeakNg => requests
            .iter()
            .try_for_each(|r| run(program, &espeak_args(voice, r), voice)),
        Engine::Flite => requests
            .iter()
            .try_for_each(|r| run(program, &flite_args(voice, r), voice)),
        Engine::Festival => {
            let script = workdir.join("synth.scm");
            let text = festival_script(voice, requests);
            std::fs::write(&script, text).map_err(|e| Error::io(&script, e))?;
            run(program, &["-b".into(), script.display().to_string()], voice)
        }
    }?;
    match requests.iter().find(|r| !r.out.is_file()) {
        Some(r) => Err(Error::decode(
            &r.out,
            format!(
                "{} voice {} wrote no audio for {:?}",
                voice.engine, voice.name, r.word
            ),
        )),
        None => Ok(()),
    }
}

/// `espeak-ng -v en-us+klatt -p 47 -s 160 -w out.wav seven`.
fn espeak_args(voice: &Voice, r: &Request) -> Vec<String> {
    vec![
        "-v".into(),
        voice.name.clone(),
        "-p".into(),
        format!("{}", r.prosody.pitch.round()),
        "-s".into(),
        format!("{}", r.prosody.rate.round()),
        "-w".into(),
        r.out.display().to_string(),
        r.word.into(),
    ]
}

/// `flite -voice slt --setf duration_stretch=1.05 --setf int_f0_target_mean=170 -t seven -o out.wav`.
/// A voice that ignores the F0 target (rms) gets its pitch from resampling afterwards, so its
/// duration is stretched by the tape factor here to come out at the intended length.
fn flite_args(voice: &Voice, r: &Request) -> Vec<String> {
    let mut args = vec![
        "-voice".into(),
        voice.name.clone(),
        "--setf".into(),
        format!("duration_stretch={:.4}", engine_stretch(voice, r.prosody)),
    ];
    if let PitchControl::F0Mean { .. } = voice.pitch {
        args.push("--setf".into());
        args.push(format!("int_f0_target_mean={:.2}", r.prosody.pitch));
    }
    args.extend([
        "-t".into(),
        r.word.into(),
        "-o".into(),
        r.out.display().to_string(),
    ]);
    args
}

/// The duration stretch to ask the engine for: the clip's own, times the tape factor that the
/// resampling will later shorten it by.
fn engine_stretch(voice: &Voice, p: Prosody) -> f64 {
    match voice.pitch {
        PitchControl::Tape => p.rate * p.pitch,
        _ => p.rate,
    }
}

/// A Scheme script that selects the voice once and saves one RIFF file per request.
///
/// Diphone voices take pitch from `int_lr_params` (the target F0 mean and spread; the model's own
/// 170/34 Hz stay) and speed from `Duration_Stretch`. The HTS voice ignores both (measured: the
/// output is byte-identical), so it gets speed from hts_engine's `-r` (a speed factor, >1 faster)
/// and pitch from resampling afterwards; its `-fm` half-tone shift is accepted but has no effect
/// in festival 2.5.
fn festival_script(voice: &Voice, requests: &[Request]) -> String {
    let mut s = format!("(voice_{})\n", voice.name);
    for r in requests {
        match voice.pitch {
            PitchControl::F0Mean {
                default_hz,
                default_std,
            } => {
                let std = default_std * r.prosody.pitch / default_hz;
                let _ = writeln!(
                    s,
                    "(set! int_lr_params '((target_f0_mean {:.2}) (target_f0_std {std:.2}) (model_f0_mean 170) (model_f0_std 34)))",
                    r.prosody.pitch
                );
                let _ = writeln!(s, "(Parameter.set 'Duration_Stretch {:.4})", r.prosody.rate);
            }
            _ => {
                let speed = 1.0 / engine_stretch(voice, r.prosody);
                let _ = writeln!(
                    s,
                    "(set! hts_engine_params (cons (list \"-r\" {speed:.4}) {}::hts_engine_params))",
                    voice.name
                );
            }
        }
        let _ = writeln!(
            s,
            "(utt.save.wave (utt.synth (Utterance Text \"{}\")) \"{}\" 'riff)",
            r.word,
            scheme_escape(&r.out.display().to_string())
        );
    }
    s
}

/// Escapes a string for a Scheme string literal.
fn scheme_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Runs `program args`, turning a failure into an error that names the voice, the command and the
/// end of its stderr.
fn run(program: &str, args: &[String], voice: &Voice) -> Result<()> {
    let output: Output = Command::new(program).args(args).output().map_err(|e| {
        Error::Unsupported(format!(
            "cannot run `{program}` for {} voice {}: {e}; install it with `{}`",
            voice.engine,
            voice.name,
            voice.engine.install_hint()
        ))
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Unsupported(format!(
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        output.status,
        tail(&output.stderr)
    )))
}

/// The last few hundred characters of a program's stderr, for error messages.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    text[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_lists_parse() {
        assert_eq!(
            parse_flite_voices("Voices available: kal awb_time kal16 awb rms slt \n"),
            ["kal", "awb_time", "kal16", "awb", "rms", "slt"]
        );
        assert_eq!(
            parse_festival_voices("(cmu_us_slt_arctic_hts ked_diphone kal_diphone)\n"),
            ["cmu_us_slt_arctic_hts", "ked_diphone", "kal_diphone"]
        );
    }

    #[test]
    fn engine_names_round_trip() {
        for e in Engine::ALL {
            assert_eq!(Engine::parse(e.name()).unwrap(), e);
        }
        let err = Engine::parse("mbrola").unwrap_err().to_string();
        assert!(err.contains("engines") && err.contains("mbrola"), "{err}");
    }
}
