//! `--defence` and its options, shared by `attack` and `defend`: registered defences configured
//! from flags.

use anyhow::{Context, Result, bail};
use avfoil::classifier::{Classifier, Defended, Model, Preprocessor};
use avfoil::defence::{self, DEFENCES, DefenceChain};
use avfoil::params::{KeyStyle, Params};
use std::sync::Arc;

/// The defence options shared by `attack`, `defend` and `predict`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DefenceArgs {
    /// Defences in front of the model, in order (comma-separated; `avfoil list` shows them all
    /// with their parameters): audio mp3, resample, lowpass, bandpass, median, moving-average,
    /// room (a simulated over-the-air channel);
    /// video h264, jpeg, median-spatial, frame-subsample, frame-drop; any bit-depth,
    /// gaussian-noise. `attack` goes through them with their backward pass (identity, BPDA, unless
    /// the defence has an exact gradient): the adaptive attack; reported predictions are the
    /// defended model's.
    #[arg(long, value_delimiter = ',')]
    pub defence: Vec<String>,
    /// MP3 bitrate in kb/s [default: LAME's choice, as ART: 8 kb/s at 8 kHz mono].
    #[arg(long, alias = "bitrate")]
    pub mp3_bitrate: Option<u32>,
    /// H.264 quality as x264's constant rate factor, 0-51, mapped to an openh264 QP (used as it is
    /// with --h264-backend x264) [default: 30].
    #[arg(long)]
    pub crf: Option<u8>,
    /// H.264 quantiser (0-51), instead of --crf.
    #[arg(long)]
    pub qp: Option<u8>,
    /// H.264 codec: openh264 (bundled) or x264 (ART's libx264 path, bit-exact with ART, --crf used
    /// as it is; needs a build with `--features ffmpeg`) [default: openh264].
    #[arg(long)]
    pub h264_backend: Option<String>,
    /// Any parameter of a defence, as NAME.KEY=VALUE (repeatable): `--defence-param mp3.bitrate=16`.
    #[arg(long, value_name = "NAME.KEY=VALUE")]
    pub defence_param: Vec<String>,
}

impl DefenceArgs {
    /// The named flags, as (flag, defence, parameter, value).
    fn flags(&self) -> Vec<(&'static str, &'static str, &'static str, toml::Value)> {
        let int = |v: i64| toml::Value::Integer(v);
        [
            (
                "--mp3-bitrate",
                "mp3",
                "bitrate",
                self.mp3_bitrate.map(|v| int(v.into())),
            ),
            ("--crf", "h264", "crf", self.crf.map(|v| int(v.into()))),
            ("--qp", "h264", "qp", self.qp.map(|v| int(v.into()))),
            (
                "--h264-backend",
                "h264",
                "codec",
                self.h264_backend.clone().map(toml::Value::String),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, name, key, value)| value.map(|v| (flag, name, key, v)))
        .collect()
    }

    /// The chain the flags describe; `None` without `--defence`.
    pub fn chain(&self) -> Result<Option<DefenceChain>> {
        let mut extra: Vec<(String, String)> = Vec::new();
        for assignment in &self.defence_param {
            let Some((name, rest)) = assignment.split_once('.') else {
                bail!("--defence-param: expected NAME.KEY=VALUE, got {assignment:?}");
            };
            extra.push((name.trim().to_string(), rest.to_string()));
        }
        for (flag, name, _, _) in self.flags() {
            if !self.defence.iter().any(|d| d == name) {
                bail!("{flag} applies to --defence {name}, which is not in the chain");
            }
        }
        for (name, _) in &extra {
            if !self.defence.contains(name) {
                bail!("--defence-param {name}.…: {name} is not in --defence");
            }
        }
        if self.defence.is_empty() {
            return Ok(None);
        }
        let mut stages = Vec::new();
        for name in &self.defence {
            DEFENCES.find(name).context("--defence")?;
            // Keys as written after `NAME.` (`cutoff`), under a context naming the defence: there
            // is no `--cutoff` flag for an error to point at.
            let mut params = Params::new(KeyStyle::Table);
            for (flag, _, key, value) in self.flags().into_iter().filter(|f| f.1 == name) {
                params.insert_shown(key, value, Some(flag.to_string()));
            }
            for (_, assignment) in extra.iter().filter(|(n, _)| n == name) {
                params.insert_assignment(assignment)?;
            }
            stages.push(
                defence::parse(name, &mut params).with_context(|| format!("--defence {name}"))?,
            );
        }
        Ok(Some(DefenceChain::new(None, stages)?))
    }

    /// `model`'s classifier behind the chain (itself without `--defence`), randomised defences
    /// drawing from `seed`; the names of the defences; whether any of them is randomised.
    pub fn defended(
        &self,
        model: &Model,
        seed: u64,
    ) -> Result<(Arc<dyn Classifier>, Vec<String>, bool)> {
        let Some(chain) = self.chain()? else {
            return Ok((model.classifier.clone(), Vec::new(), false));
        };
        let defended =
            Defended::new(model.classifier.clone(), build(&chain, model)?).with_seed(seed);
        let names = defended.defence_names();
        let randomised = defended.randomised();
        Ok((Arc::new(defended), names, randomised))
    }
}

/// `chain`'s preprocessors for `model`; an error names the defence that does not fit.
pub fn build(chain: &DefenceChain, model: &Model) -> Result<Vec<Box<dyn Preprocessor>>> {
    chain
        .stages
        .iter()
        .map(|stage| {
            stage
                .build(&model.config.input)
                .with_context(|| format!("--defence {}: {}", stage.name(), model.dir.display()))
        })
        .collect()
}
