//! Scenario files: what `avfoil eval` measures, as TOML.
//!
//! Every key is checked before any work starts: an unknown key, a wrong type or an unknown attack or
//! defence is an error with its line; values out of range are reported with the line of the
//! table that holds them (`scenario.toml:14: [[attack]] #2 (pgd): eps: ...`).
//!
//! An `[[attack]]` table holds the scenario's own keys (`name`, `label`, `eps`) and the attack's
//! parameters, which its registry entry reads ([`crate::attack::spec`]): the same parameters, with
//! the same defaults and checks, as the command line's. A `[[defence]]` table holds `label`,
//! `adaptive` and either one defence (`name` and its parameters) or a `chain` of them.

use super::certification::{CertifyTable, ScenarioCertify};
use crate::attack::spec::{self as attack_spec, AttackSpec, RunSettings};
use crate::attack::{Attack, Eps, Norm};
use crate::defence::{self, DefenceChain};
use crate::error::{Error, Result};
use crate::model::InputConfig;
use crate::params::{Params, SpannedTable};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `e`, said of the table `what` that starts at `span` of the scenario file `path` (text `text`).
pub fn at(text: &str, path: &Path, span: Range<usize>, what: &str, e: Error) -> Error {
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    Error::decode(path, format!("line {line}: {what}: {e}"))
}

/// A whole scenario file, checked.
#[derive(Debug)]
pub struct Scenario {
    /// Short name for reports.
    pub name: String,
    pub description: String,
    /// Seed of every random choice (example order, random starts, noise).
    pub seed: u64,
    /// Examples per attack call; results depend on it (random streams are drawn per batch).
    pub batch_size: Spanned<usize>,
    pub model: Spanned<ModelSpec>,
    pub dataset: Spanned<DatasetSpec>,
    pub attacks: Vec<ScenarioAttack>,
    pub defences: Vec<ScenarioDefence>,
    /// `[[certify]]`: randomised-smoothing certificates of the bare model.
    pub certifications: Vec<ScenarioCertify>,
    pub checks: ChecksSpec,
    pub report: ReportSpec,
}

/// The file as TOML gives it, before attacks and defences are parsed by their registries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_batch_size")]
    batch_size: Spanned<usize>,
    model: Spanned<ModelSpec>,
    dataset: Spanned<DatasetSpec>,
    #[serde(rename = "attack")]
    attacks: Vec<Spanned<SpannedTable>>,
    #[serde(default, rename = "defence")]
    defences: Vec<Spanned<SpannedTable>>,
    #[serde(default, rename = "certify")]
    certifications: Vec<Spanned<CertifyTable>>,
    #[serde(default)]
    checks: ChecksSpec,
    #[serde(default)]
    report: ReportSpec,
}

/// One `[[attack]]`: an attack and its eps grid (untargeted, against the true labels).
#[derive(Debug)]
pub struct ScenarioAttack {
    /// Name in reports (default: the attack's name); unique within a scenario.
    pub label: String,
    /// The budgets to try, in input units.
    pub eps: Vec<f32>,
    pub spec: Box<dyn AttackSpec>,
    /// Where its table is in the scenario file.
    pub span: Range<usize>,
    /// `universal`: where its perturbation is fitted (`None` for every other attack).
    pub fit: Option<FitOn>,
    /// Where `fit` is in the scenario file (the table when it is not given).
    pub fit_span: Range<usize>,
    /// `universal`: the attack with its concrete type (its fit is called directly).
    pub universal: Option<crate::attack::universal::UniversalSpec>,
}

/// Where a `universal` attack of a scenario fits its perturbation (the `fit` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitOn {
    /// `fit = "train"` (the default): once per eps on the train part of the data set (its first
    /// `limit` examples in the seeded order, all when `None`), then put on every test example.
    Train { limit: Option<usize> },
    /// `fit = "chunk"`: on each chunk of the evaluated examples it is then put on (transductive).
    Chunk,
}

impl ScenarioAttack {
    /// Whether its perturbation is fitted on the train part (once per eps) rather than by the
    /// attack on each chunk.
    pub fn fits_on_train(&self) -> bool {
        matches!(self.fit, Some(FitOn::Train { .. }))
    }

    /// The train examples its fit uses at most (`None`: all); `None` too when it fits no train set.
    pub fn fit_limit(&self) -> Option<usize> {
        match self.fit {
            Some(FitOn::Train { limit }) => limit,
            _ => None,
        }
    }

    /// The name in reports.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether iterations drive it.
    pub fn iterative(&self) -> bool {
        self.spec.iterative()
    }

    /// The geometry of its budget.
    pub fn norm(&self) -> Norm {
        self.spec.norm()
    }

    /// The attack at budget `eps`, untargeted, its random choices drawn from `seed`.
    pub fn build(&self, eps: f32, seed: u64, batch_size: usize) -> Result<Box<dyn Attack>> {
        self.spec.build(&RunSettings {
            eps: Eps::Scalar(eps),
            targeted: false,
            seed,
            batch_size,
            streams: None,
        })
    }
}

/// One `[[defence]]`: a defence or a chain of them. Each is evaluated on clean inputs, against
/// adversarial examples made for the undefended model (transfer), and, when `adaptive`, against
/// the attack run through it (BPDA).
#[derive(Debug)]
pub struct ScenarioDefence {
    pub chain: DefenceChain,
    /// Also attack through the defence with identity gradients (default true).
    pub adaptive: bool,
    /// Expectation over transformation for the adaptive attack: each gradient averages this many
    /// draws of the defence's randomness (default 1; more needs a randomised defence).
    pub eot: usize,
    /// Where its table is in the scenario file.
    pub span: Range<usize>,
}

impl ScenarioDefence {
    /// The name in reports (`mp3`, or the `label` given).
    pub fn label(&self) -> &str {
        &self.chain.label
    }
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

fn yes() -> bool {
    true
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
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| Error::decode(path, e.to_string()))?;
        let at = |span: Range<usize>, what: &str, e: Error| at(text, path, span, what, e);
        if *file.batch_size.get_ref() == 0 {
            return Err(at(
                file.batch_size.span(),
                "batch_size",
                Error::invalid("batch_size", "at least 1"),
            ));
        }
        if file.attacks.is_empty() {
            return Err(Error::decode(
                path,
                "no [[attack]]: a scenario measures at least one attack",
            ));
        }
        let batch_size = *file.batch_size.get_ref();
        let mut attacks: Vec<ScenarioAttack> = Vec::new();
        for (i, table) in file.attacks.into_iter().enumerate() {
            let span = table.span();
            let attack = parse_attack(
                table.into_inner(),
                span.clone(),
                batch_size,
                |blame, what, e| at(blame, &format!("[[attack]] #{} ({what})", i + 1), e),
            )?;
            if attacks.iter().any(|a| a.label == attack.label) {
                return Err(at(
                    span,
                    &format!("[[attack]] #{} ({})", i + 1, attack.label),
                    Error::invalid(
                        "label",
                        format!(
                            "{:?} is used twice; give each attack its own label",
                            attack.label
                        ),
                    ),
                ));
            }
            attacks.push(attack);
        }
        let mut defences: Vec<ScenarioDefence> = Vec::new();
        for (i, table) in file.defences.into_iter().enumerate() {
            let span = table.span();
            let defence = parse_defence(table.into_inner(), span.clone(), |blame, what, e| {
                at(blame, &format!("[[defence]] #{} ({what})", i + 1), e)
            })?;
            if defences.iter().any(|d| d.label() == defence.label()) {
                return Err(at(
                    span,
                    &format!("[[defence]] #{} ({})", i + 1, defence.label()),
                    Error::invalid(
                        "label",
                        format!(
                            "{:?} is used twice; give each defence its own label",
                            defence.label()
                        ),
                    ),
                ));
            }
            defences.push(defence);
        }
        let mut certifications: Vec<ScenarioCertify> = Vec::new();
        for (i, table) in file.certifications.into_iter().enumerate() {
            let span = table.span();
            let what = format!("[[certify]] #{}", i + 1);
            let c = ScenarioCertify::parse(table.into_inner(), i, file.seed)
                .map_err(|e| at(span.clone(), &what, e))?;
            if certifications.iter().any(|o| o.label == c.label) {
                let e = Error::invalid(
                    "label",
                    format!(
                        "{:?} is used twice; give each [[certify]] its own label",
                        c.label
                    ),
                );
                return Err(at(span, &what, e));
            }
            certifications.push(c);
        }
        file.dataset
            .get_ref()
            .validate()
            .map_err(|e| at(file.dataset.span(), "[dataset]", e))?;
        let part = file.dataset.get_ref().part;
        for (i, a) in attacks.iter().enumerate() {
            if a.fits_on_train() && part != DataPart::Test {
                let why = match part {
                    DataPart::Train => {
                        "[dataset] part = \"train\" evaluates the train part itself: nothing is \
                         held out from the fit"
                    }
                    _ => "[dataset] part = \"all\" leaves no train part to fit on",
                };
                return Err(at(
                    a.fit_span.clone(),
                    &format!("[[attack]] #{} ({})", i + 1, a.label),
                    Error::invalid(
                        "fit",
                        format!(
                            "the universal perturbation is fitted on the train part (fit = \
                             \"train\", the default), but {why}; use part = \"test\", or \
                             fit = \"chunk\""
                        ),
                    ),
                ));
            }
        }
        let checks = &file.checks;
        if !(0.0..=1.0).contains(&checks.large_eps_success) {
            return Err(Error::decode(
                path,
                format!(
                    "[checks] large_eps_success: a rate in [0, 1], got {}",
                    checks.large_eps_success
                ),
            ));
        }
        let mut scenario = Scenario {
            name: file.name,
            description: file.description,
            seed: file.seed,
            batch_size: file.batch_size,
            model: file.model,
            dataset: file.dataset,
            attacks,
            defences,
            certifications,
            checks: file.checks,
            report: file.report,
        };
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

    /// Checks that every attack and defence applies to a model with these inputs; errors name the
    /// table (in `text` at `path`) they come from.
    pub fn check_model(&self, input: &InputConfig, text: &str, path: &Path) -> Result<()> {
        for (i, a) in self.attacks.iter().enumerate() {
            a.spec.check_input(input).map_err(|e| {
                at(
                    text,
                    path,
                    a.span.clone(),
                    &format!("[[attack]] #{} ({})", i + 1, a.label),
                    e,
                )
            })?;
        }
        for (i, d) in self.defences.iter().enumerate() {
            let what = format!("[[defence]] #{} ({})", i + 1, d.label());
            let stages = d
                .chain
                .build(input)
                .map_err(|e| at(text, path, d.span.clone(), &what, e))?;
            if d.eot > 1 && !stages.iter().any(|s| s.randomised()) {
                let e = Error::invalid(
                    "eot",
                    "no randomised defence in this chain: every draw would give the same gradient",
                );
                return Err(at(text, path, d.span.clone(), &what, e));
            }
        }
        Ok(())
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        *self.batch_size.get_ref()
    }
}

/// The scenario's own key `key` of a table, removed from `params`.
fn take_key<T: serde::de::DeserializeOwned>(
    params: &mut Params,
    key: &str,
) -> Result<Option<(T, Option<Range<usize>>)>> {
    match params.remove(key) {
        None => Ok(None),
        Some((value, span)) => T::deserialize(value)
            .map(|v| Some((v, span)))
            .map_err(|e| Error::invalid(key, e.to_string())),
    }
}

/// One `[[attack]]` table: `name`, `label`, `eps`, and the attack's own parameters.
fn parse_attack(
    table: SpannedTable,
    span: Range<usize>,
    batch_size: usize,
    at: impl Fn(Range<usize>, &str, Error) -> Error,
) -> Result<ScenarioAttack> {
    let mut params = Params::from_table(table);
    let blame = |s: Option<Range<usize>>| s.unwrap_or(span.clone());
    let (name, name_span): (String, _) = take_key(&mut params, "name")
        .map_err(|e| at(span.clone(), "?", e))?
        .ok_or_else(|| {
            at(
                span.clone(),
                "?",
                Error::invalid("name", "missing: which attack"),
            )
        })?;
    let label: String =
        match take_key(&mut params, "label").map_err(|e| at(span.clone(), &name, e))? {
            Some((l, _)) => l,
            None => name.clone(),
        };
    let (eps, _): (Vec<f32>, _) = take_key(&mut params, "eps")
        .map_err(|e| at(span.clone(), &label, e))?
        .ok_or_else(|| {
            at(
                span.clone(),
                &label,
                Error::invalid("eps", "give at least one budget"),
            )
        })?;
    let (fit, fit_span) =
        take_fit(&name, &mut params, &span).map_err(|(line, e)| at(line, &label, e))?;
    let mut universal = None;
    let spec = if fit.is_some() {
        // The universal attack with its concrete type: a fit on the train part calls it directly.
        let entry = &crate::attack::universal::ENTRY;
        crate::attack::universal::UniversalSpec::take(&mut params).and_then(|u| {
            params.finish(entry.name, entry.params)?;
            universal = Some(u.clone());
            Ok(Box::new(u) as Box<dyn AttackSpec>)
        })
    } else {
        attack_spec::parse(&name, &mut params)
    }
    .map_err(|e| {
        let line = if matches!(&e, Error::InvalidArgument { param, .. } if param == "attack") {
            name_span.clone()
        } else {
            params.blame()
        };
        at(blame(line), &label, e)
    })?;
    check_eps_grid(&eps).map_err(|e| at(span.clone(), &label, e))?;
    for &e in &eps {
        let run = RunSettings {
            eps: Eps::Scalar(e),
            targeted: false,
            seed: 0,
            batch_size,
            streams: None,
        };
        spec.build(&run)
            .map_err(|err| at(span.clone(), &label, err))?;
    }
    if label.is_empty() || label.contains('|') {
        return Err(at(
            span,
            &label,
            Error::invalid("label", "a non-empty name without '|'"),
        ));
    }
    Ok(ScenarioAttack {
        label,
        eps,
        spec,
        span,
        fit,
        fit_span,
        universal,
    })
}

/// The scenario's own `fit` and `fit_limit` keys of an `[[attack]]` table (`universal` only),
/// removed from `params`; errors come with the line to blame.
#[allow(clippy::type_complexity)]
fn take_fit(
    name: &str,
    params: &mut Params,
    table: &Range<usize>,
) -> std::result::Result<(Option<FitOn>, Range<usize>), (Range<usize>, Error)> {
    let line = |s: Option<Range<usize>>| s.unwrap_or(table.clone());
    let fit: Option<(String, _)> = take_key(params, "fit").map_err(|e| (table.clone(), e))?;
    let limit: Option<(i64, _)> = take_key(params, "fit_limit").map_err(|e| (table.clone(), e))?;
    if name != crate::attack::universal::ENTRY.name {
        for (key, span) in [
            ("fit", fit.as_ref().map(|f| f.1.clone())),
            ("fit_limit", limit.as_ref().map(|l| l.1.clone())),
        ] {
            if let Some(span) = span {
                return Err((
                    line(span),
                    Error::invalid(
                        key,
                        format!(
                            "applies to name = \"universal\" only (where its one perturbation is \
                             fitted), not to {name}"
                        ),
                    ),
                ));
            }
        }
        return Ok((None, table.clone()));
    }
    let fit_span = line(fit.as_ref().and_then(|f| f.1.clone()));
    let limit = match limit {
        None => None,
        Some((n, _)) if n >= 1 => Some(n as usize),
        Some((n, span)) => {
            return Err((
                line(span),
                Error::invalid(
                    "fit_limit",
                    format!("train examples to fit on, at least 1; got {n}"),
                ),
            ));
        }
    };
    let on = match fit.as_ref().map(|f| f.0.as_str()) {
        None | Some("train") => FitOn::Train { limit },
        Some("chunk") => {
            if limit.is_some() {
                return Err((
                    fit_span,
                    Error::invalid(
                        "fit_limit",
                        "applies to fit = \"train\" only; fit = \"chunk\" fits on each chunk",
                    ),
                ));
            }
            FitOn::Chunk
        }
        Some(other) => {
            return Err((
                fit_span,
                Error::invalid("fit", format!("\"train\" or \"chunk\", got {other:?}")),
            ));
        }
    };
    Ok((Some(on), fit_span))
}

/// Budgets: at least one, each finite and >= 0, none twice.
fn check_eps_grid(eps: &[f32]) -> Result<()> {
    if eps.is_empty() {
        return Err(Error::invalid("eps", "give at least one budget"));
    }
    if let Some(e) = eps.iter().find(|e| !(e.is_finite() && **e >= 0.0)) {
        return Err(Error::invalid(
            "eps",
            format!("budgets are finite and >= 0, got {e}"),
        ));
    }
    for (i, e) in eps.iter().enumerate() {
        if eps[..i].contains(e) {
            return Err(Error::invalid(
                "eps",
                format!("{e} is listed twice; each budget is measured once"),
            ));
        }
    }
    Ok(())
}

/// One `[[defence]]` table: `label`, `adaptive`, and `name` with its parameters or a `chain` of
/// inline tables, each a `name` with its parameters.
fn parse_defence(
    table: SpannedTable,
    span: Range<usize>,
    at: impl Fn(Range<usize>, &str, Error) -> Error,
) -> Result<ScenarioDefence> {
    let mut params = Params::from_table(table);
    let label: Option<String> = take_key(&mut params, "label")
        .map_err(|e| at(span.clone(), "?", e))?
        .map(|(l, _)| l);
    let shown = |fallback: &str| label.clone().unwrap_or_else(|| fallback.to_string());
    let adaptive = take_key(&mut params, "adaptive")
        .map_err(|e| at(span.clone(), &shown("?"), e))?
        .is_none_or(|(a, _)| a);
    let eot =
        match take_key::<i64>(&mut params, "eot").map_err(|e| at(span.clone(), &shown("?"), e))? {
            None => 1,
            Some((n, _)) if (1..=10_000).contains(&n) => n as usize,
            Some((n, line)) => {
                return Err(at(
                    line.unwrap_or(span.clone()),
                    &shown("?"),
                    Error::invalid("eot", format!("draws per gradient, 1 to 10000; got {n}")),
                ));
            }
        };
    if eot > 1 && !adaptive {
        return Err(at(
            span,
            &shown("?"),
            Error::invalid(
                "eot",
                "applies to the adaptive attack; adaptive = false here",
            ),
        ));
    }
    let one = |name: String, name_span: Option<Range<usize>>, params: &mut Params| {
        defence::parse(&name, params).map_err(|e| {
            let line = if matches!(&e, Error::InvalidArgument { param, .. } if param == "defence") {
                name_span
            } else {
                params.blame()
            };
            at(line.unwrap_or(span.clone()), &shown(&name), e)
        })
    };
    let stages = match take_key::<String>(&mut params, "name")
        .map_err(|e| at(span.clone(), &shown("?"), e))?
    {
        Some((name, name_span)) => {
            if params.has("chain") {
                return Err(at(
                    span,
                    &shown(&name),
                    Error::invalid("chain", "give name (one defence) or chain, not both"),
                ));
            }
            vec![one(name, name_span, &mut params)?]
        }
        None => {
            let (chain, chain_span): (Vec<toml::Table>, _) = take_key(&mut params, "chain")
                .map_err(|e| at(span.clone(), &shown("?"), e))?
                .ok_or_else(|| {
                    at(
                        span.clone(),
                        &shown("?"),
                        Error::invalid("name", "missing: which defence (or a chain of them)"),
                    )
                })?;
            params
                .finish("a defence chain", &[])
                .map_err(|e| at(params.blame().unwrap_or(span.clone()), &shown("chain"), e))?;
            let mut stages = Vec::with_capacity(chain.len());
            for stage in chain {
                let mut p = Params::from_inline(stage);
                let (name, _): (String, _) = take_key(&mut p, "name")
                    .map_err(|e| at(span.clone(), &shown("chain"), e))?
                    .ok_or_else(|| {
                        at(
                            span.clone(),
                            &shown("chain"),
                            Error::invalid("chain", "every stage needs a name"),
                        )
                    })?;
                stages.push(one(name, chain_span.clone(), &mut p)?);
            }
            stages
        }
    };
    let what = shown("chain");
    let chain = DefenceChain::new(label, stages).map_err(|e| at(span.clone(), &what, e))?;
    Ok(ScenarioDefence {
        chain,
        adaptive,
        eot,
        span,
    })
}
