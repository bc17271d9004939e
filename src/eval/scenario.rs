//! Scenario files: what `avfoil eval` measures, as TOML.
//!
//! Every key is checked before any work starts: an unknown key, a wrong type or an unknown attack or
//! defence is a TOML error with its line; values out of range are reported with the line of the
//! table that holds them (`scenario.toml:14: [[attack]] #2 (pgd): eps: ...`).

use crate::attack::{
    Attack, Common, Eps, Fgm, FrameSaliency, Norm, Pgd, PrefixSearch, Projection, SaliencyMethod,
};
use crate::defence::{DefenceSpec, H264Backend, H264Quality};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `e`, said of the table `what` that starts at `span` of the scenario file `path` (text `text`).
pub fn at(text: &str, path: &Path, span: Range<usize>, what: &str, e: Error) -> Error {
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    Error::decode(path, format!("line {line}: {what}: {e}"))
}

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name for reports.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice (example order, random starts, noise).
    #[serde(default)]
    pub seed: u64,
    /// Examples per attack call; results depend on it (random streams are drawn per batch).
    #[serde(default = "default_batch_size")]
    pub batch_size: Spanned<usize>,
    pub model: Spanned<ModelSpec>,
    pub dataset: Spanned<DatasetSpec>,
    #[serde(rename = "attack")]
    pub attacks: Vec<Spanned<AttackSpec>>,
    #[serde(default, rename = "defence")]
    pub defences: Vec<Spanned<DefenceEntry>>,
    #[serde(default)]
    pub checks: ChecksSpec,
    #[serde(default)]
    pub report: ReportSpec,
}

fn default_batch_size() -> Spanned<usize> {
    Spanned::new(0..0, 16)
}

/// `[model]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A model directory (relative to the scenario file) or a shipped model's name.
    pub path: String,
}

/// `[dataset]`: which examples, with their true labels. One flat table for every loader (so that
/// a wrong type is reported at its own line); keys that do not apply to the loader are errors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub loader: Loader,
    /// The data set's folder, relative to the scenario file (not for `actions`).
    pub root: Option<PathBuf>,
    /// Which examples: `test` (default), `train`, or `all` (spoken digits only).
    #[serde(default)]
    pub part: DataPart,
    /// UCF101 layouts: split 1 (default), 2 or 3.
    pub split: Option<u32>,
    /// AudioMNIST: the test speakers (the ART notebook: "49" … "60").
    pub test_speakers: Option<Vec<String>>,
    /// At most this many examples (after the seeded shuffle).
    pub limit: Option<usize>,
    /// `actions`: what `avfoil data actions` would render (UCF101's 25 groups, 4 clips of 48
    /// frames of 320 × 240 at 25 fps, seed 0 by default), rendered into `OUT/dataset`.
    pub groups: Option<usize>,
    pub clips: Option<usize>,
    pub frames: Option<usize>,
    pub size: Option<[usize; 2]>,
    pub fps: Option<f64>,
    pub seed: Option<u64>,
}

/// The data set loaders.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    /// Free Spoken Digit Dataset (`recordings/d_speaker_i.wav`); test = recordings 0-4.
    Fsdd,
    /// AudioMNIST (`data/NN/d_NN_r.wav`); test = the listed speakers.
    Audiomnist,
    /// UCF101's layout (`UCF-101/`, `ucfTrainTestlist/`).
    Ucf101,
    /// The procedural action corpus of `avfoil data actions`, rendered on first use (only the clips
    /// of the part asked for) and then read like UCF101.
    Actions,
}

/// Which part of a data set.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataPart {
    #[default]
    Test,
    Train,
    All,
}

impl DatasetSpec {
    /// The loader's name.
    pub fn loader(&self) -> &'static str {
        match self.loader {
            Loader::Fsdd => "fsdd",
            Loader::Audiomnist => "audiomnist",
            Loader::Ucf101 => "ucf101",
            Loader::Actions => "actions",
        }
    }

    /// The UCF101 split (1 when not given).
    pub fn split(&self) -> u32 {
        self.split.unwrap_or(1)
    }

    fn validate(&self) -> Result<()> {
        let given = [
            ("root", self.root.is_some()),
            ("split", self.split.is_some()),
            ("test_speakers", self.test_speakers.is_some()),
            ("groups", self.groups.is_some()),
            ("clips", self.clips.is_some()),
            ("frames", self.frames.is_some()),
            ("size", self.size.is_some()),
            ("fps", self.fps.is_some()),
            ("seed", self.seed.is_some()),
        ];
        let allowed: &[&str] = match self.loader {
            Loader::Fsdd => &["root"],
            Loader::Audiomnist => &["root", "test_speakers"],
            Loader::Ucf101 => &["root", "split"],
            Loader::Actions => &["split", "groups", "clips", "frames", "size", "fps", "seed"],
        };
        if let Some((key, _)) = given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
            return Err(Error::invalid(
                *key,
                format!("does not apply to loader = \"{}\"", self.loader()),
            ));
        }
        if self.loader != Loader::Actions && self.root.is_none() {
            return Err(Error::invalid("root", "the data set's folder is required"));
        }
        if self.loader == Loader::Audiomnist && self.test_speakers.is_none() {
            return Err(Error::invalid(
                "test_speakers",
                "AudioMNIST has no official split: list the test speakers",
            ));
        }
        if matches!(self.loader, Loader::Ucf101 | Loader::Actions) && self.part == DataPart::All {
            return Err(Error::invalid(
                "part",
                "UCF101 splits have a test and a train part",
            ));
        }
        if !(1..=3).contains(&self.split()) {
            return Err(Error::invalid(
                "split",
                format!("UCF101 has splits 1, 2 and 3, got {}", self.split()),
            ));
        }
        if self.limit == Some(0) {
            return Err(Error::invalid("limit", "at least 1 example"));
        }
        Ok(())
    }
}

/// The attacks a scenario may name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    Fgm,
    Pgd,
    FrameSaliency,
}

/// The attack frame saliency wraps.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InnerKind {
    #[default]
    Fgm,
    Pgd,
}

/// Frame saliency's method.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    #[default]
    Iterative,
    IterativeRefresh,
    OneShot,
}

/// One `[[attack]]`: an attack and its eps grid (untargeted, against the true labels).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttackSpec {
    pub name: AttackKind,
    /// Name in reports (default: the attack's name); unique within a scenario.
    pub label: Option<String>,
    /// `inf`, `1`, `2` or any real p >= 1, as a string or a number.
    #[serde(default = "default_norm")]
    pub norm: toml::Value,
    /// The budgets to try, in input units.
    pub eps: Vec<f32>,
    /// Step size as a fraction of eps (PGD; default 0.25).
    pub step: Option<f32>,
    /// PGD iterations (default 40).
    pub max_iter: Option<usize>,
    /// Random starts (0: start at the input).
    #[serde(default)]
    pub random_init: usize,
    /// PGD: freeze each example at its first success.
    #[serde(default)]
    pub early_stop: bool,
    /// Frame saliency: the attack it wraps.
    pub inner: Option<InnerKind>,
    /// Frame saliency: its method.
    pub method: Option<MethodKind>,
}

fn default_norm() -> toml::Value {
    toml::Value::String("inf".into())
}

impl AttackSpec {
    /// The name in reports.
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            match self.name {
                AttackKind::Fgm => "fgm",
                AttackKind::Pgd => "pgd",
                AttackKind::FrameSaliency => "frame-saliency",
            }
            .to_string()
        })
    }

    /// The norm, parsed.
    pub fn norm(&self) -> Result<Norm> {
        let text = match &self.norm {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                return Err(Error::invalid(
                    "norm",
                    format!("expected inf, 1, 2 or a real p >= 1, got {other}"),
                ));
            }
        };
        let norm: Norm = text.parse()?;
        norm.validate()?;
        Ok(norm)
    }

    /// Whether iterations drive it (PGD, or frame saliency around PGD).
    pub fn iterative(&self) -> bool {
        self.name == AttackKind::Pgd
            || (self.name == AttackKind::FrameSaliency && self.inner == Some(InnerKind::Pgd))
    }

    /// The attack at budget `eps`, untargeted, its random choices drawn from `seed`.
    pub fn build(&self, eps: f32, seed: u64, batch_size: usize) -> Result<Box<dyn Attack>> {
        let inner_is_pgd = self.name == AttackKind::Pgd || self.inner == Some(InnerKind::Pgd);
        let step = self.step.unwrap_or(if inner_is_pgd { 0.25 } else { 0.1 });
        let common = Common {
            norm: self.norm()?,
            eps: Eps::Scalar(eps),
            // A zero budget still needs a valid step; nothing moves either way.
            eps_step: Eps::Scalar(if eps > 0.0 { step * eps } else { 1.0 }),
            targeted: false,
            num_random_init: self.random_init,
            batch_size,
            seed,
            projection: Projection::Radial,
        };
        let inner: Box<dyn Attack> = if inner_is_pgd {
            let pgd = Pgd {
                common,
                max_iter: self.max_iter.unwrap_or(40),
                decay: None,
                random_eps: false,
                early_stop: self.early_stop,
            };
            pgd.validate()?;
            Box::new(pgd)
        } else {
            common.validate()?;
            Box::new(Fgm {
                common,
                minimal: false,
            })
        };
        Ok(match self.name {
            AttackKind::FrameSaliency => Box::new(FrameSaliency {
                attacker: inner,
                method: match self.method.unwrap_or_default() {
                    MethodKind::Iterative => SaliencyMethod::Iterative,
                    MethodKind::IterativeRefresh => SaliencyMethod::IterativeRefresh,
                    MethodKind::OneShot => SaliencyMethod::OneShot,
                },
                frame_axis: 1,
                batch_size,
                search: PrefixSearch::Linear,
            }),
            _ => inner,
        })
    }

    fn validate(&self) -> Result<()> {
        self.norm()?;
        if self.eps.is_empty() {
            return Err(Error::invalid("eps", "give at least one budget"));
        }
        if let Some(e) = self.eps.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
            return Err(Error::invalid(
                "eps",
                format!("budgets are finite and >= 0, got {e}"),
            ));
        }
        if let Some(s) = self.step
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::invalid(
                "step",
                format!("a positive fraction of eps, got {s}"),
            ));
        }
        if self.max_iter == Some(0) {
            return Err(Error::invalid("max_iter", "at least 1"));
        }
        let pgd_only = |set: bool, key: &str| {
            if set && !self.iterative() {
                Err(Error::invalid(
                    key,
                    "applies to pgd (or frame-saliency with inner = \"pgd\") only",
                ))
            } else {
                Ok(())
            }
        };
        pgd_only(self.max_iter.is_some(), "max_iter")?;
        pgd_only(self.early_stop, "early_stop")?;
        if self.name != AttackKind::FrameSaliency {
            for (set, key) in [
                (self.inner.is_some(), "inner"),
                (self.method.is_some(), "method"),
            ] {
                if set {
                    return Err(Error::invalid(key, "applies to frame-saliency only"));
                }
            }
        }
        Ok(())
    }
}

/// The defences a scenario may name.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DefenceKind {
    Mp3,
    H264,
}

/// H.264 codecs.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CodecKind {
    #[default]
    Openh264,
    X264,
}

/// One `[[defence]]`. Each is evaluated on clean inputs, against adversarial examples made for the
/// undefended model (transfer), and, when `adaptive`, against the attack run through it (BPDA).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefenceEntry {
    pub name: DefenceKind,
    /// Also attack through the defence with identity gradients (default true).
    #[serde(default = "yes")]
    pub adaptive: bool,
    /// MP3: bitrate in kb/s (default LAME's choice, as ART).
    pub bitrate: Option<u32>,
    /// H.264: x264's constant rate factor (default 30).
    pub crf: Option<u8>,
    /// H.264: a fixed quantiser instead of the CRF.
    pub qp: Option<u8>,
    /// H.264: the codec.
    #[serde(default)]
    pub codec: CodecKind,
}

fn yes() -> bool {
    true
}

impl DefenceEntry {
    /// The name in reports (`mp3`, `h264`).
    pub fn label(&self) -> &'static str {
        match self.name {
            DefenceKind::Mp3 => "mp3",
            DefenceKind::H264 => "h264",
        }
    }

    /// What to build.
    pub fn spec(&self) -> DefenceSpec {
        match self.name {
            DefenceKind::Mp3 => DefenceSpec::Mp3 {
                bitrate: self.bitrate,
            },
            DefenceKind::H264 => DefenceSpec::H264 {
                quality: match self.qp {
                    Some(qp) => H264Quality::Qp(qp),
                    None => H264Quality::Crf(self.crf.unwrap_or(30)),
                },
                backend: match self.codec {
                    CodecKind::Openh264 => H264Backend::OpenH264,
                    CodecKind::X264 => H264Backend::X264,
                },
            },
        }
    }

    fn validate(&self) -> Result<()> {
        let h264_only = [
            (self.crf.is_some(), "crf"),
            (self.qp.is_some(), "qp"),
            (self.codec != CodecKind::Openh264, "codec"),
        ];
        match self.name {
            DefenceKind::Mp3 => {
                if let Some((_, key)) = h264_only.iter().find(|(set, _)| *set) {
                    return Err(Error::invalid(*key, "applies to h264 only"));
                }
            }
            DefenceKind::H264 => {
                if self.bitrate.is_some() {
                    return Err(Error::invalid("bitrate", "applies to mp3 only"));
                }
                for (v, key) in [(self.crf, "crf"), (self.qp, "qp")] {
                    if let Some(v) = v
                        && v > 51
                    {
                        return Err(Error::invalid(key, format!("0-51, got {v}")));
                    }
                }
                if self.crf.is_some() && self.qp.is_some() {
                    return Err(Error::invalid("qp", "give crf or qp, not both"));
                }
            }
        }
        Ok(())
    }
}

/// `[checks]`: the sanity checks of Carlini et al. (2019) that the summary runs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    /// Also measure random noise of each attack's norm and budget (a baseline every attack must
    /// beat).
    #[serde(default = "yes")]
    pub noise: bool,
    /// The success rate an attack should reach at its largest eps.
    #[serde(default = "default_large_eps_success")]
    pub large_eps_success: f64,
}

fn default_large_eps_success() -> f64 {
    0.95
}

impl Default for ChecksSpec {
    fn default() -> Self {
        Self {
            noise: true,
            large_eps_success: default_large_eps_success(),
        }
    }
}

/// `[report]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Examples shown with plots and players.
    #[serde(default = "default_showcase")]
    pub examples: usize,
}

fn default_showcase() -> usize {
    3
}

impl Default for ReportSpec {
    fn default() -> Self {
        Self {
            examples: default_showcase(),
        }
    }
}

impl Scenario {
    /// Reads and checks `path`; relative paths inside it are taken from its folder.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and checks a scenario's text (`path` names it in errors and anchors relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| Error::decode(path, e.to_string()))?;
        scenario.validate(text, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        if let Some(root) = &mut scenario.dataset.get_mut().root {
            *root = base.join(&*root);
        }
        let model = base.join(&scenario.model.get_ref().path);
        if model.is_dir() {
            scenario.model.get_mut().path = model.display().to_string();
        }
        Ok(scenario)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<()> {
        let at = |span: Range<usize>, what: String, e: Error| at(text, path, span, &what, e);
        if *self.batch_size.get_ref() == 0 {
            return Err(at(
                self.batch_size.span(),
                "batch_size".into(),
                Error::invalid("batch_size", "at least 1"),
            ));
        }
        if self.attacks.is_empty() {
            return Err(Error::decode(
                path,
                "no [[attack]]: a scenario measures at least one attack",
            ));
        }
        let mut labels = Vec::new();
        for (i, a) in self.attacks.iter().enumerate() {
            let what = format!("[[attack]] #{} ({})", i + 1, a.get_ref().label());
            a.get_ref()
                .validate()
                .map_err(|e| at(a.span(), what.clone(), e))?;
            let label = a.get_ref().label();
            if labels.contains(&label) {
                return Err(at(
                    a.span(),
                    what,
                    Error::invalid(
                        "label",
                        format!("{label:?} is used twice; give each attack its own label"),
                    ),
                ));
            }
            labels.push(label);
        }
        let mut names = Vec::new();
        for (i, d) in self.defences.iter().enumerate() {
            let what = format!("[[defence]] #{} ({})", i + 1, d.get_ref().label());
            d.get_ref()
                .validate()
                .map_err(|e| at(d.span(), what.clone(), e))?;
            if names.contains(&d.get_ref().label()) {
                return Err(at(
                    d.span(),
                    what,
                    Error::invalid("name", "each defence once"),
                ));
            }
            names.push(d.get_ref().label());
        }
        self.dataset
            .get_ref()
            .validate()
            .map_err(|e| at(self.dataset.span(), "[dataset]".into(), e))?;
        let checks = &self.checks;
        if !(0.0..=1.0).contains(&checks.large_eps_success) {
            return Err(Error::decode(
                path,
                format!(
                    "[checks] large_eps_success: a rate in [0, 1], got {}",
                    checks.large_eps_success
                ),
            ));
        }
        Ok(())
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        *self.batch_size.get_ref()
    }
}
