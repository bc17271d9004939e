//! Robustness evaluation over a data set: `avfoil eval --scenario FILE --out DIR`.
//!
//! A [`scenario::Scenario`] names a model, a data set, attacks with eps grids and defences. Every
//! example is measured under every configuration ([`configs`]); each measurement is one line of
//! `DIR/results.jsonl` ([`records`]), written as soon as its batch finishes, so `--resume` redoes
//! nothing. The [`summary`] (accuracies, success rates, perturbation sizes, sanity checks) and the
//! [`report`] are computed from the records alone, which is why shards merge into exactly the
//! summary one run would give ([`merge`]).

pub mod certification;
pub mod configs;
pub mod dataset;
pub mod records;
pub mod report;
pub mod run;
pub mod scenario;
pub mod showcase;
pub mod summary;
pub mod universal;

pub use run::{Options, Shard};
pub use scenario::Scenario;
pub use summary::Summary;

use crate::error::{Error, Result};
use burn::tensor::Device;
use records::{Record, Results, read_records};
use run::{Models, RunInfo};
use std::path::{Path, PathBuf};

/// What a finished run (or merge) leaves behind.
pub struct Outcome {
    pub summary: Summary,
    /// Records measured by this call (0 when everything was already done).
    pub measured: usize,
    pub dir: PathBuf,
}

/// Runs (or resumes) the scenario at `path`. `progress(done, total)` is called after each batch of
/// records.
pub fn evaluate(
    path: &Path,
    options: &Options,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Outcome> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let scenario = Scenario::parse(&text, path)?;
    // Everything that can fail on bad input fails here, before any work.
    let models = Models::load(&scenario, &text, path, device)?;
    let created = !options.out.exists();
    let _lock = claim_folder(&options.out)?;
    let opened = dataset::open(
        scenario.dataset.get_ref(),
        &models.config,
        scenario.seed,
        &options.out,
    )
    .and_then(|examples| {
        // The train part, for universal perturbations fitted on it.
        let train = if scenario.attacks.iter().any(|a| a.fits_on_train()) {
            let mut spec = scenario.dataset.get_ref().clone();
            spec.part = scenario::DataPart::Train;
            // As many as the largest fit uses.
            spec.limit = scenario
                .attacks
                .iter()
                .filter(|a| a.fits_on_train())
                .map(|a| a.fit_limit())
                .try_fold(0, |m, l| l.map(|l| m.max(l)));
            dataset::open(&spec, &models.config, scenario.seed, &options.out)
                .map_err(|e| Error::invalid("part", format!("the train part: {e}")))?
        } else {
            Vec::new()
        };
        Ok((examples, train))
    })
    .map_err(|e| scenario::at(&text, path, scenario.dataset.span(), "[dataset]", e))
    .and_then(|(examples, train)| {
        let results = run::prepare(&scenario, &text, examples.len(), &models, options)?;
        Ok((examples, train, results))
    });
    // A run refused before any work leaves no folder behind.
    let (examples, train, (mut results, old)) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(&options.out);
            }
            return Err(e);
        }
    };
    let finished = records::done(&old);
    let chunks = run::chunks(&examples, scenario.batch_size(), options.shard);
    let total = run::remaining(&scenario, &chunks, &finished);
    let mut measured = 0;
    progress(0, total);
    let keys = configs::configs(&scenario);
    let mut fits = universal::Fits::new(&scenario, &models, train, &options.out, device);
    for &(index, part) in &chunks {
        let all_done = part.iter().all(|e| {
            keys.iter()
                .all(|c| finished.contains(&(e.index, c.key.clone())))
        });
        if all_done {
            continue;
        }
        let chunk = run::load_chunk(index, part, &models, device)?;
        run::run_chunk(
            &scenario,
            &models,
            &chunk,
            &mut fits,
            &finished,
            |records| {
                results.append(&records)?;
                measured += records.len();
                progress(measured, total);
                Ok(())
            },
        )?;
    }
    let (records, _) = read_records(&options.out.join(Results::FILE))?;
    let showcase = match chunks.first() {
        Some(&first) => showcase::write(
            &scenario,
            &models,
            first,
            &records,
            &mut fits,
            &options.out,
            device,
        )?,
        None => Vec::new(),
    };
    let summary = summarize(&scenario, &models, &records);
    report::write_all(&summary, &showcase, &options.out)?;
    Ok(Outcome {
        summary,
        measured,
        dir: options.out.clone(),
    })
}

/// Makes `out` this run's, exclusively: created if missing; if it exists and holds anything, it
/// must be an avfoil run folder (its `run.json`), so that a user's own files are never overwritten;
/// then locked against a second run writing into it at the same time.
fn claim_folder(out: &Path) -> Result<crate::fs::FolderLock> {
    let foreign = std::fs::read_dir(out)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                let name = e.file_name();
                // The actions loader renders its data set into `dataset/` before run.json.
                name != RunInfo::FILE && name != crate::fs::FolderLock::FILE && name != "dataset"
            })
        })
        .unwrap_or(false);
    if foreign && !out.join(RunInfo::FILE).is_file() {
        return Err(Error::invalid(
            "out",
            format!(
                "{} is not empty and is not an avfoil run folder (no {}); choose a new or empty \
                 folder",
                out.display(),
                RunInfo::FILE
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    crate::fs::FolderLock::acquire(out)
}

fn summarize(scenario: &Scenario, models: &Models, records: &[Record]) -> Summary {
    let model = models.dir.display().to_string();
    summary::summarize(scenario, &model, models.modality(), records)
}

/// Combines the output folders of the shards of one scenario into `out`: the records of all,
/// the showcase of the shard that ran the first chunk, and the summary and report computed from
/// them, as one run would have written. Every shard `0/n … n-1/n` must be there, each once.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<Outcome> {
    if shards.is_empty() {
        return Err(Error::invalid(
            "shards",
            "give the output folders of the shards",
        ));
    }
    let mut infos = Vec::new();
    for dir in shards {
        let path = dir.join(RunInfo::FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let info: RunInfo =
            serde_json::from_str(&text).map_err(|e| Error::decode(&path, e.to_string()))?;
        infos.push(info);
    }
    let first = &infos[0];
    let count = first.shard.count;
    let mut seen = vec![false; count];
    for (info, dir) in infos.iter().zip(shards) {
        if (&info.fingerprint, info.shard.count, info.examples)
            != (&first.fingerprint, count, first.examples)
        {
            return Err(Error::invalid(
                "shards",
                format!(
                    "{} is a shard of another run (scenario, shard count or data set differ)",
                    dir.display()
                ),
            ));
        }
        if std::mem::replace(&mut seen[info.shard.index], true) {
            return Err(Error::invalid(
                "shards",
                format!("shard {}/{count} is given twice", info.shard.index),
            ));
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(Error::invalid(
            "shards",
            format!("shard {missing}/{count} is missing"),
        ));
    }
    let scenario_path = shards[0].join("scenario.toml");
    let text = std::fs::read_to_string(&scenario_path).map_err(|e| Error::io(&scenario_path, e))?;
    let scenario = Scenario::parse(&text, &scenario_path)?;
    let target = std::fs::canonicalize(out).ok();
    if let Some(dir) = shards
        .iter()
        .find(|d| target.is_some() && std::fs::canonicalize(d).ok() == target)
    {
        return Err(Error::invalid(
            "out",
            format!(
                "{} is one of the shards; merge into a new folder",
                dir.display()
            ),
        ));
    }
    // A non-empty target must be an earlier merge of these same shards.
    let own = std::fs::read_to_string(out.join(RunInfo::FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<RunInfo>(&t).ok())
        .is_some_and(|i| i.fingerprint == first.fingerprint && i.shard == Shard::default());
    let non_empty = std::fs::read_dir(out).is_ok_and(|mut e| e.next().is_some());
    if non_empty && !own {
        return Err(Error::invalid(
            "out",
            format!(
                "{} is not empty and is not a merge of these shards; merge into a new or empty \
                 folder",
                out.display()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let _lock = crate::fs::FolderLock::acquire(out)?;
    let mut records = Vec::new();
    for dir in shards {
        records.extend(read_records(&dir.join(Results::FILE))?.0);
    }
    records.sort_by(|a, b| (a.example, &a.config).cmp(&(b.example, &b.config)));
    let mut lines = String::new();
    for r in &records {
        lines.push_str(&serde_json::to_string(r).expect("records serialise"));
        lines.push('\n');
    }
    crate::fs::write_atomic(&out.join(Results::FILE), lines.as_bytes())?;
    crate::fs::write_atomic(&out.join("scenario.toml"), text.as_bytes())?;
    let mut info = first.clone();
    info.shard = Shard::default();
    crate::fs::write_atomic(
        &out.join(RunInfo::FILE),
        serde_json::to_string_pretty(&info)
            .expect("plain data")
            .as_bytes(),
    )?;
    // The showcase comes from the shard that ran chunk 0.
    let owner = infos
        .iter()
        .position(|i| i.shard.index == 0)
        .expect("checked");
    let shown = showcase::read(&shards[owner])?;
    for s in &shown {
        for file in s.items.iter().map(|i| &i.path).chain(&s.plots) {
            let (from, to) = (shards[owner].join(file), out.join(file));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    // The universal perturbations fitted on the train part: the same in every shard that made them.
    for dir in shards {
        let Ok(entries) = std::fs::read_dir(dir.join(universal::DIR)) else {
            continue;
        };
        let target = out.join(universal::DIR);
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.ends_with(".npy") || name.ends_with(".json")) {
                continue;
            }
            let to = target.join(entry.file_name());
            if !to.is_file() {
                std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
                let from = entry.path();
                let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
                crate::fs::write_atomic(&to, &bytes)?;
            }
        }
    }
    if !shown.is_empty() {
        let json = serde_json::to_string_pretty(&shown).expect("plain data");
        crate::fs::write_atomic(
            &out.join(showcase::DIR).join("showcase.json"),
            json.as_bytes(),
        )?;
    }
    let summary = summary::summarize(&scenario, &first.model, &first.modality, &records);
    report::write_all(&summary, &shown, out)?;
    Ok(Outcome {
        summary,
        measured: 0,
        dir: out.to_path_buf(),
    })
}
