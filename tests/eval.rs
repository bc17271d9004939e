//! `avfoil eval` end to end on the shipped spoken-digit model and a few real FSDD recordings:
//! resuming, sharding and merging give the results of one run; bad scenarios fail before any work
//! with the file, line and key; the HTML report opens in a headless browser.

mod common;

use avfoil::eval::records::{Record, Results, read_records};
use avfoil::eval::{Options, Shard, Summary};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fsdd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd")
}

/// Six test recordings in batches of two: three chunks, so three shards get one each.
fn scenario(dir: &Path) -> PathBuf {
    let text = format!(
        r#"name = "tiny"
seed = 7
batch_size = 2

[model]
path = "spoken-digits"

[dataset]
loader = "fsdd"
root = "{}"
limit = 6

[[attack]]
name = "fgm"
eps = [64, 2048]

[[attack]]
name = "pgd"
eps = [64]
max_iter = 3

[[defence]]
name = "mp3"

[report]
examples = 1
"#,
        fsdd().display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn evaluate(scenario: &Path, out: &Path, resume: bool, shard: Shard) -> avfoil::Result<Summary> {
    let options = Options {
        out: out.to_path_buf(),
        resume,
        shard,
    };
    let device = avfoil::device::parse_device("cpu").unwrap();
    avfoil::eval::evaluate(scenario, &options, &device, &mut |_, _| {}).map(|o| o.summary)
}

/// Records without their timings, in a fixed order.
fn measured(dir: &Path) -> Vec<Record> {
    let (mut records, _) = read_records(&dir.join(Results::FILE)).unwrap();
    for r in &mut records {
        r.seconds = 0.0;
    }
    records.sort_by(|a, b| (a.example, &a.config).cmp(&(b.example, &b.config)));
    records
}

fn without_timing(mut s: Summary) -> Summary {
    s.timing.compute_seconds = 0.0;
    s.timing.seconds_per_example = 0.0;
    for r in &mut s.rows {
        r.seconds_per_example = 0.0;
    }
    s
}

fn avfoil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avfoil"))
}

#[test]
fn shards_merged_and_resumed_runs_equal_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path());
    let whole = tmp.path().join("whole");
    let summary = evaluate(&scenario, &whole, false, Shard::default()).unwrap();
    let records = measured(&whole);
    // 6 examples × (2 clean + 3 eps × (2 attack + 1 adaptive + 2 noise)) configurations.
    assert_eq!(records.len(), 6 * (2 + 3 * 5));
    assert_eq!(summary.examples, 6);
    assert_eq!(summary.rows.len(), 3 * 3);
    for r in &summary.rows {
        assert!((0.0..=1.0).contains(&r.accuracy));
        assert!(r.linf_max <= f64::from(r.eps) + 1e-3, "{r:?}");
    }
    // Perceptual measures on every perturbed record (PESQ and STOI where the clip is long enough
    // for them), none of video's; more budget, lower scores.
    let perturbed: Vec<&Record> = records
        .iter()
        .filter(|r| r.linf.is_some_and(|l| l > 0.0))
        .collect();
    assert!(
        perturbed
            .iter()
            .all(|r| r.seg_snr_db.is_some() && r.ssim.is_none() && r.flicker.is_none())
    );
    assert!(
        perturbed.iter().any(|r| r.pesq.is_some()) && perturbed.iter().any(|r| r.stoi.is_some())
    );
    assert!(
        records
            .iter()
            .filter(|r| r.linf.is_none())
            .all(|r| r.pesq.is_none() && r.stoi.is_none())
    );
    let fgm = |eps: f32| {
        summary
            .rows
            .iter()
            .find(|r| r.attack == "fgm" && r.eps == eps && r.defence == "none")
            .unwrap()
    };
    let (small, big) = (fgm(64.0), fgm(2048.0));
    assert!(
        small.pesq_mean.unwrap() > big.pesq_mean.unwrap(),
        "{small:?} {big:?}"
    );
    assert!(
        small.stoi_mean.unwrap() > big.stoi_mean.unwrap(),
        "{small:?} {big:?}"
    );
    assert!(small.seg_snr_db_mean.unwrap() > big.seg_snr_db_mean.unwrap());
    // The fraction of the perturbation's energy under the masking threshold: a fraction, and a
    // smaller share of a larger perturbation hides under the same threshold.
    let masked = |r: &avfoil::eval::summary::Row| r.masked_energy_mean.unwrap();
    assert!((0.0..=1.0).contains(&masked(small)) && (0.0..=1.0).contains(&masked(big)));
    assert!(masked(small) >= masked(big), "{small:?} {big:?}");
    assert!(small.ssim_mean.is_none());
    let md = std::fs::read_to_string(whole.join("report.md")).unwrap();
    assert!(
        md.contains("## Perceptual measures (means)") && md.contains("| STOI |"),
        "{md}"
    );
    // The showcase's predictions are the ones the records hold for the same inputs.
    let shown = avfoil::eval::showcase::read(&whole).unwrap();
    assert_eq!(shown.len(), 1);
    let s = &shown[0];
    for (title, defence, adaptive) in [
        ("adversarial", None, false),
        ("adversarial + mp3", Some("mp3"), false),
        ("adaptive adversarial + mp3", Some("mp3"), true),
    ] {
        let key = avfoil::eval::configs::attack_key(&s.attack, s.eps, defence, adaptive);
        let r = records
            .iter()
            .find(|r| r.example == s.example && r.config == key)
            .unwrap();
        let item = s.items.iter().find(|i| i.title == title).unwrap();
        assert_eq!(item.class, r.prediction.to_string(), "{title}");
    }
    // Once more: refused without --resume, nothing new with it.
    assert!(evaluate(&scenario, &whole, false, Shard::default()).is_err());

    // Three shards through the CLI, then merged.
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = tmp.path().join(format!("shard{i}"));
        let status = avfoil()
            .args(["eval", "--quiet", "--scenario"])
            .arg(&scenario)
            .arg("--out")
            .arg(&dir)
            .args(["--shard", &format!("{i}/3")])
            .status()
            .unwrap();
        assert!(status.success());
        dirs.push(dir);
    }
    let merged = tmp.path().join("merged");
    let out = avfoil()
        .args(["eval", "merge", "--json", "--out"])
        .arg(&merged)
        .args(&dirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_shards: Summary = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(without_timing(from_shards), without_timing(summary.clone()));
    assert_eq!(measured(&merged), records);
    for file in ["report.html", "report.md", "summary.json"] {
        assert!(merged.join(file).is_file(), "{file}");
    }
    // A missing shard is an error naming it.
    let out = avfoil()
        .args(["eval", "merge", "--out"])
        .arg(tmp.path().join("partial"))
        .args(&dirs[..2])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 2/3 is missing"));

    // An interrupted run: 40 complete lines and half of the next.
    let cut = tmp.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    let text = std::fs::read_to_string(whole.join(Results::FILE)).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut partial: String = lines[..40].concat();
    partial.push_str(&lines[40][..lines[40].len() / 2]);
    std::fs::write(cut.join(Results::FILE), partial).unwrap();
    for file in ["run.json", "scenario.toml"] {
        std::fs::copy(whole.join(file), cut.join(file)).unwrap();
    }
    let options = Options {
        out: cut.clone(),
        resume: true,
        shard: Shard::default(),
    };
    let device = avfoil::device::parse_device("cpu").unwrap();
    let outcome = avfoil::eval::evaluate(&scenario, &options, &device, &mut |_, _| {}).unwrap();
    assert_eq!(outcome.measured, records.len() - 40);
    assert_eq!(measured(&cut), records);
    assert_eq!(without_timing(outcome.summary), without_timing(summary));
}

#[test]
fn bad_scenarios_fail_before_any_work_naming_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(scenario(tmp.path())).unwrap();
    let cases: [(&str, String, &[&str]); 8] = [
        (
            "unknown key",
            good.replace("max_iter = 3", "max_iter = 3\nsteps = 4"),
            &["line 21", "steps"],
        ),
        (
            "wrong type",
            good.replace("limit = 6", "limit = \"six\""),
            &["line 11", "limit"],
        ),
        (
            "unknown attack",
            good.replace("name = \"pgd\"", "name = \"no-such-attack\""),
            &["line 18", "no-such-attack"],
        ),
        (
            "unknown defence",
            good.replace("name = \"mp3\"", "name = \"no-such-defence\""),
            &["line 23", "no-such-defence"],
        ),
        (
            "eps out of range",
            good.replace("eps = [64]", "eps = [-64]"),
            &["line 17", "[[attack]] #2 (pgd)", "eps"],
        ),
        (
            "empty data set",
            good.replace("limit = 6", "limit = 0"),
            &["[dataset]", "limit"],
        ),
        (
            "a budget twice",
            good.replace("eps = [64]", "eps = [64, 64]"),
            &["line 17", "[[attack]] #2 (pgd)", "listed twice"],
        ),
        (
            "a parameter of another defence",
            good.replace("name = \"mp3\"", "name = \"mp3\"\ncrf = 20"),
            &[
                "line 24",
                "[[defence]] #1 (mp3)",
                "crf",
                "not a parameter of mp3",
            ],
        ),
    ];
    for (what, text, needles) in cases {
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, &text).unwrap();
        let out_dir = tmp.path().join("never");
        let err = evaluate(&path, &out_dir, false, Shard::default())
            .expect_err(what)
            .to_string();
        assert!(err.contains("bad.toml"), "{what}: {err}");
        for n in needles {
            assert!(err.contains(n), "{what}: {err:?} lacks {n:?}");
        }
        assert!(!out_dir.exists(), "{what}: work started");
    }
    // A defence that does not fit the model: caught when the model is loaded, still before work.
    let path = tmp.path().join("h264.toml");
    std::fs::write(&path, good.replace("name = \"mp3\"", "name = \"h264\"")).unwrap();
    let err = evaluate(&path, &tmp.path().join("never"), false, Shard::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("h264 needs a video model"), "{err}");
    assert!(err.contains("line 22: [[defence]] #1 (h264)"), "{err}");
    // EOT needs something random to average, and is a setting of the adaptive attack.
    let path = tmp.path().join("eot.toml");
    let eot_mp3 = good.replace("name = \"mp3\"", "name = \"mp3\"\neot = 4");
    std::fs::write(&path, &eot_mp3).unwrap();
    let err = evaluate(&path, &tmp.path().join("never"), false, Shard::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[[defence]] #1 (mp3)") && err.contains("eot") && err.contains("randomised"),
        "{err}"
    );
    std::fs::write(
        &path,
        eot_mp3.replace("eot = 4", "eot = 4\nadaptive = false"),
    )
    .unwrap();
    let err = evaluate(&path, &tmp.path().join("never"), false, Shard::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("eot") && err.contains("adaptive"), "{err}");
    // A data set without examples in the split asked for.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::copy(
        fsdd().join("recordings/0_george_10.wav"),
        empty.join("0_george_10.wav"),
    )
    .unwrap();
    let path = tmp.path().join("empty.toml");
    let text = good.replace(&fsdd().display().to_string(), &empty.display().to_string());
    std::fs::write(&path, text).unwrap();
    let err = evaluate(&path, &tmp.path().join("never"), false, Shard::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 8: [dataset]") && err.contains("no examples"),
        "{err}"
    );
    assert!(!tmp.path().join("never").exists());
}

/// Debian's headless Chromium (installed by `.ci/run`) loads the report: the charts, tables and
/// players are in the page it renders.
#[test]
fn the_html_report_opens_in_a_headless_browser() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("SKIPPED: no headless Chromium (`apt-get install chromium`, as .ci/run does)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path());
    let out = tmp.path().join("run");
    let summary = evaluate(&scenario, &out, false, Shard::default()).unwrap();
    let report = out.join("report.html");
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // One chart per attack, the result rows, one example with four players and two plots.
    assert_eq!(dom.matches("class=\"plot chart\"").count(), 2, "charts");
    assert!(dom.contains("<table id=\"results\">"));
    // Rows are counted per table, so a table added to the report does not break the count.
    assert_eq!(
        table_rows(&dom, "clean"),
        1 + summary.defended_clean_accuracy.len(),
        "clean rows"
    );
    assert_eq!(
        table_rows(&dom, "results"),
        summary.rows.len(),
        "result rows"
    );
    assert_eq!(
        table_rows(&dom, "checks"),
        summary.checks.len(),
        "check rows"
    );
    assert!(table_rows(&dom, "perceptual") > 0, "perceptual measures");
    assert_eq!(dom.matches("<audio controls").count(), 4, "players");
    assert!(dom.contains("waveform.png") && dom.contains("spectrogram.png"));
    assert!(dom.contains("masking.png"), "the masking plot is shown");
    assert!(dom.contains("data:audio/wav;base64,UklGR"), "inline WAV");
}

/// The data rows (`<tr><td>`, not the header) of the table with this id in a rendered page; 0 when
/// the page has no such table. Chromium inserts `<tbody>`, which does not change the count.
fn table_rows(dom: &str, id: &str) -> usize {
    let Some(start) = dom.find(&format!("<table id=\"{id}\">")) else {
        return 0;
    };
    let table = &dom[start..];
    let end = table.find("</table>").unwrap_or(table.len());
    table[..end].matches("<tr><td>").count()
}

/// The video path: the stand-in corpus rendered on first use (ten tiny clips), the shipped c3d-lite,
/// FGM and frame saliency behind H.264; video measures (PSNR, perturbed frames) and GIFs.
#[test]
fn a_video_scenario_renders_its_data_and_measures_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("video.toml");
    std::fs::write(
        &path,
        r#"name = "tiny-video"
batch_size = 5

[model]
path = "actions"

[dataset]
loader = "actions"
groups = 4          # split 1 tests group 1: one clip per class
clips = 1
frames = 32
size = [80, 60]

[[attack]]
name = "fgm"
eps = [0.0314]

[[attack]]
name = "frame-saliency"
eps = [0.0314]

[[defence]]
name = "h264"
crf = 30

[report]
examples = 1
"#,
    )
    .unwrap();
    let out = tmp.path().join("run");
    let summary = evaluate(&path, &out, false, Shard::default()).unwrap();
    assert_eq!(summary.examples, 10);
    assert_eq!(summary.modality, "video");
    assert!(
        out.join("dataset/UCF-101/YoYo/v_YoYo_g01_c01.mp4")
            .is_file()
    );
    let records = measured(&out);
    for r in records.iter().filter(|r| r.linf.is_some_and(|l| l > 0.0)) {
        assert!(r.psnr_db.is_some() && r.snr_db.is_none(), "{r:?}");
        let ssim = r.ssim.unwrap();
        assert!(ssim > 0.0 && ssim < 1.0, "{r:?}");
        assert!(
            r.flicker.is_some() && r.pesq.is_none() && r.stoi.is_none(),
            "{r:?}"
        );
        let frames = r.perturbed_frames.unwrap();
        assert!((1..=16).contains(&frames), "{r:?}");
        if r.attack.as_deref() == Some("fgm") {
            assert_eq!(frames, 16, "FGM moves every frame: {r:?}");
        }
    }
    let fsa = summary
        .rows
        .iter()
        .find(|r| r.attack == "frame-saliency" && r.defence == "none")
        .unwrap();
    assert!(fsa.perturbed_frames_mean.unwrap() <= 16.0);
    let shown = avfoil::eval::showcase::read(&out).unwrap();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].items.iter().all(|i| i.media == "gif"));
    assert!(out.join(&shown[0].plots[0]).is_file());
}

/// The scenarios the README runs parse, name models that load, and (audio) find their data.
#[test]
fn the_example_scenarios_are_valid() {
    let device = avfoil::device::parse_device("cpu").unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in [
        "audio-notebook.toml",
        "audio-autoattack.toml",
        "audio-universal.toml",
        "audio-defences.toml",
        "audio-imperceptible.toml",
        "video-notebook.toml",
    ] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = avfoil::eval::Scenario::parse(&text, &path).unwrap();
        let models = avfoil::eval::run::Models::load(&scenario, &text, &path, &device).unwrap();
        assert_eq!(models.defended.len(), scenario.defences.len());
        if name.starts_with("audio") {
            let examples = avfoil::eval::dataset::open(
                scenario.dataset.get_ref(),
                &models.config,
                scenario.seed,
                Path::new("unused"),
            )
            .unwrap();
            assert_eq!(examples.len(), scenario.dataset.get_ref().limit.unwrap());
            // The seeded shuffle mixes digits and speakers into the first examples.
            let digits: std::collections::HashSet<usize> =
                examples[..16].iter().map(|e| e.label).collect();
            assert!(digits.len() >= 6, "{digits:?}");
        }
    }
}

/// `deploy/slurm-eval.sh` against a stand-in `sbatch` that runs each job in place (array tasks one
/// after the other): the shards run and the merge writes the report.
#[test]
fn the_slurm_script_runs_the_shards_and_the_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path());
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        r#"#!/bin/bash
# Runs a job now: --wrap's command, once per array index.
array="" wrap=""
for a in "$@"; do
    case "$a" in
        --array=*) array="${a#--array=}" ;;
        --wrap=*) wrap="${a#--wrap=}" ;;
    esac
done
if [ -n "$array" ]; then
    for i in $(seq "${array%-*}" "${array#*-}"); do SLURM_ARRAY_TASK_ID=$i bash -c "$wrap" || exit 1; done
else
    bash -c "$wrap" || exit 1
fi
echo 4242
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tmp.path().join("results");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm-eval.sh"))
        .arg(&scenario)
        .arg(&out)
        .arg("3")
        .env("PATH", path)
        .env("AVFOIL", env!("CARGO_BIN_EXE_avfoil"))
        .status()
        .unwrap();
    assert!(status.success());
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("merged/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.examples, 6);
    assert!(out.join("merged/report.html").is_file());
    assert_eq!(measured(&out.join("merged")).len(), 6 * 17);
}

/// The key reference in docs/scenarios.md is a valid scenario.
#[test]
fn the_documented_scenario_parses() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let start = text.find("```toml\n").unwrap() + "```toml\n".len();
    let toml = &text[start..start + text[start..].find("```").unwrap()];
    let scenario = avfoil::eval::Scenario::parse(toml, &docs).unwrap();
    assert_eq!(scenario.attacks.len(), 1);
    assert_eq!(scenario.batch_size(), 16);
    // One defence under its own label and a chain of two.
    let labels: Vec<&str> = scenario.defences.iter().map(|d| d.label()).collect();
    assert_eq!(labels, ["mp3-16k", "mp3-then-mp3"]);
    assert_eq!(scenario.defences[1].chain.stages.len(), 2);
    assert_eq!(scenario.certifications.len(), 1);
    assert_eq!(
        scenario.certifications[0].radii,
        [0.0, 250.0, 500.0, 1000.0]
    );
}

/// A one-attack scenario on `root` (an FSDD-layout folder), two examples.
fn small_scenario(dir: &Path, root: &Path) -> PathBuf {
    let text = format!(
        "name = \"small\"\nseed = 1\nbatch_size = 2\n[model]\npath = \"spoken-digits\"\n\
         [dataset]\nloader = \"fsdd\"\nroot = \"{}\"\nlimit = 2\n[[attack]]\nname = \"fgm\"\n\
         eps = [64]\n",
        root.display()
    );
    let path = dir.join("small.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A randomised defence attacked with EOT: each gradient of the adaptive attack is the mean of
/// `eot` draws, so the adaptive rows ask for `eot` times the gradients of the plain attack.
#[test]
fn eot_multiplies_the_adaptive_attacks_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_fsdd(dir.path());
    let base = std::fs::read_to_string(small_scenario(dir.path(), &root)).unwrap();
    let mut gradients = Vec::new();
    for eot in [1, 3] {
        let text =
            format!("{base}[[defence]]\nname = \"gaussian-noise\"\nsigma = 8.0\neot = {eot}\n");
        let path = dir.path().join(format!("eot{eot}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join(format!("out{eot}"));
        let summary = evaluate(&path, &out, false, Shard::default()).unwrap();
        let adaptive: Vec<Record> = measured(&out).into_iter().filter(|r| r.adaptive).collect();
        assert_eq!(adaptive.len(), 2);
        gradients.push(adaptive[0].gradients.unwrap());
        let check = summary
            .checks
            .iter()
            .find(|c| c.name == "adaptive-attack")
            .unwrap();
        assert_eq!(
            check.detail.contains("EOT over 3 draws"),
            eot == 3,
            "{}",
            check.detail
        );
    }
    assert!(gradients[0] > 0.0);
    assert_eq!(gradients[1], 3.0 * gradients[0]);
}

/// Two copies of real FSDD test recordings in an FSDD-layout folder.
fn small_fsdd(dir: &Path) -> PathBuf {
    let root = dir.join("fsdd");
    let recordings = root.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    for name in ["3_george_0.wav", "7_jackson_1.wav"] {
        std::fs::copy(fsdd().join("recordings").join(name), recordings.join(name)).unwrap();
    }
    root
}

/// Two runs on one folder at once doubled the records; a user's folder lost its report.md; a
/// resume without run.json reported another seed's records; a merge replaced a stranger's results.
#[test]
fn eval_output_folders_are_exclusive_and_never_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_fsdd(dir.path());
    let scenario = small_scenario(dir.path(), &root);

    // A folder held by another run.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    let lock = avfoil::fs::FolderLock::acquire(&busy).unwrap();
    let e = evaluate(&scenario, &busy, false, Shard::default()).unwrap_err();
    assert!(
        e.to_string().contains("in use by another avfoil run"),
        "{e}"
    );
    drop(lock);
    evaluate(&scenario, &busy, false, Shard::default()).unwrap();

    // A user's folder with their own files.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("report.md"), "my notes").unwrap();
    let e = evaluate(&scenario, &mine, false, Shard::default()).unwrap_err();
    assert!(e.to_string().contains("not an avfoil run folder"), "{e}");
    assert_eq!(
        std::fs::read_to_string(mine.join("report.md")).unwrap(),
        "my notes"
    );

    // Resuming results whose run.json is gone.
    std::fs::remove_file(busy.join("run.json")).unwrap();
    let e = evaluate(&scenario, &busy, true, Shard::default()).unwrap_err();
    assert!(e.to_string().contains("no run.json"), "{e}");

    // Merging into a folder that is not an earlier merge of these shards, or into a shard.
    let shard = dir.path().join("shard");
    evaluate(&scenario, &shard, false, Shard { index: 0, count: 1 }).unwrap();
    for target in [&mine, &shard] {
        let o = avfoil()
            .args(["eval", "merge", "--out"])
            .arg(target)
            .arg(&shard)
            .output()
            .unwrap();
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("merge into a new"), "{e}");
    }
    assert_eq!(
        std::fs::read_to_string(mine.join("report.md")).unwrap(),
        "my notes"
    );
}

/// A stereo recording in the data set failed when the run reached it; now before any work.
#[test]
fn data_set_contents_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_fsdd(dir.path());
    common::write_stereo_wav(&root.join("recordings/5_george_2.wav"), 800);
    let scenario = small_scenario(dir.path(), &root);
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace("limit = 2", "limit = 3");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("out");
    let e = evaluate(&scenario, &out, false, Shard::default()).unwrap_err();
    assert!(
        e.to_string().contains("5_george_2.wav") && e.to_string().contains("mono"),
        "{e}"
    );
    assert!(!out.join("results.jsonl").exists(), "no work was done");
}

/// The `auto` ensemble in a scenario: each direct and adaptive row lists its components with the
/// accuracy left after each (the last equal to the row's), every record of an example an attack
/// fooled names the component, the transfer rows list none, and the report has the section.
#[test]
fn an_ensemble_row_gives_the_accuracy_after_each_component() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_fsdd(dir.path());
    let text = format!(
        "name = \"ensemble\"\nseed = 1\nbatch_size = 2\n[model]\npath = \"spoken-digits\"\n\
         [dataset]\nloader = \"fsdd\"\nroot = \"{}\"\nlimit = 2\n[[attack]]\nname = \"auto\"\n\
         eps = [16, 4096]\ncomponents = [\"apgd-ce\", \"square\"]\nmax_iter = 3\n\
         max_queries = 20\n[[defence]]\nname = \"mp3\"\n",
        root.display()
    );
    let path = dir.path().join("ensemble.toml");
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let summary = evaluate(&path, &out, false, Shard::default()).unwrap();
    let mut seen = 0;
    for r in summary.rows.iter().filter(|r| r.attack == "auto") {
        let transfer = r.defence != "none" && r.mode.name() == "transfer";
        if transfer {
            assert!(r.components.is_empty(), "{r:?}");
            continue;
        }
        seen += 1;
        let names: Vec<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["apgd-ce", "square"]);
        assert!(r.components[1].gradient_free);
        let last = r.components.last().unwrap().accuracy;
        assert!((last - r.accuracy).abs() < 1e-12, "{r:?}");
        assert!(r.components[0].accuracy >= last);
        let fooled: usize = r.components.iter().map(|c| c.fooled).sum();
        assert!(fooled <= r.examples);
    }
    assert_eq!(seen, 4, "direct and adaptive at two budgets");
    // At 4096 int16 steps the bare model falls to APGD-CE, and the record says so.
    let records = measured(&out);
    let big: Vec<&Record> = records
        .iter()
        .filter(|r| r.config == "auto|4096|none")
        .collect();
    assert_eq!(big.len(), 2);
    for r in big {
        assert_eq!(r.correct, r.fooled_by.is_none(), "{r:?}");
        assert_eq!(r.fooled_by.as_deref(), Some("apgd-ce"), "{r:?}");
    }
    assert!(
        summary
            .checks
            .iter()
            .any(|c| c.name == "gradient-free-finds-nothing-new")
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Ensembles: accuracy after each component"),
        "{md}"
    );
    assert!(md.contains("apgd-ce"));
}

/// Six test recordings in chunks of two, a universal perturbation fitted on four train recordings
/// (SGD, two passes at a budget large enough to fool), transferred to and fitted through mp3.
fn universal_scenario(dir: &Path) -> PathBuf {
    let text = format!(
        r#"name = "universal"
seed = 5
batch_size = 2

[model]
path = "spoken-digits"

[dataset]
loader = "fsdd"
root = "{}"
limit = 6

[[attack]]
name = "universal"
eps = [512, 4096]
fit = "train"
fit_limit = 4
variant = "sgd"
max_iter = 2
step = 0.5

[[defence]]
name = "mp3"

[report]
examples = 1
"#,
        fsdd().display()
    );
    let path = dir.join("universal.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The bytes of every file under `dir/universal`, by name.
fn fits(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("universal"))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `fit = "train"`: one perturbation per budget fitted on train recordings (kept in the output
/// folder), put unchanged on every test recording (re-applying it gives the records' predictions
/// and sizes); its train fooling rate reaches the records, the rows and the report; shards, their
/// merge and a resumed run give the same fit and records as one run; a kept fit that is not this
/// scenario's is refused on resume.
#[test]
fn a_universal_perturbation_fitted_on_train_is_measured_on_test() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = universal_scenario(tmp.path());
    let whole = tmp.path().join("whole");
    let summary = evaluate(&scenario, &whole, false, Shard::default()).unwrap();
    let records = measured(&whole);
    // 6 examples × (2 clean + 2 eps × (direct, transfer, adaptive, 2 noise)).
    assert_eq!(records.len(), 6 * (2 + 2 * 5));
    let names: Vec<String> = fits(&whole).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "universal-4096-mp3.json",
            "universal-4096-mp3.npy",
            "universal-4096.json",
            "universal-4096.npy",
            "universal-512-mp3.json",
            "universal-512-mp3.npy",
            "universal-512.json",
            "universal-512.npy",
        ]
    );
    let info: avfoil::eval::universal::FitInfo = serde_json::from_str(
        &std::fs::read_to_string(whole.join("universal/universal-4096.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info.examples, 4, "fitted on fit_limit train examples");
    assert_eq!(info.defence, None);

    // Re-applying the kept perturbation to the test recordings gives the records.
    let text = std::fs::read_to_string(&scenario).unwrap();
    let parsed = avfoil::eval::Scenario::parse(&text, &scenario).unwrap();
    let device = avfoil::device::parse_device("cpu").unwrap();
    let models = avfoil::eval::run::Models::load(&parsed, &text, &scenario, &device).unwrap();
    let examples = avfoil::eval::dataset::open(
        parsed.dataset.get_ref(),
        &models.config,
        parsed.seed,
        tmp.path(),
    )
    .unwrap();
    let chunk = avfoil::eval::run::load_chunk(0, &examples, &models, &device).unwrap();
    let mut fooled = 0;
    for eps in [512.0f32, 4096.0] {
        let v = avfoil::media::npy::read_npy(&whole.join(format!("universal/universal-{eps}.npy")))
            .unwrap()
            .data;
        let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(largest > 0.0 && largest <= eps + 1e-3, "{largest}");
        let adv =
            avfoil::attack::universal::apply(models.bare.as_ref(), &chunk.x, &v, None).unwrap();
        let predicted = models.bare.predict_labels(&adv, 6).unwrap();
        let adv = avfoil::array::tensor_to_vec(adv);
        let sizes = avfoil::metrics::perturbation_sizes(&chunk.clean, &adv, 6);
        let key = avfoil::eval::configs::attack_key("universal", eps, None, false);
        let rate = info_rate(&whole, eps);
        for (i, e) in examples.iter().enumerate() {
            let r = records
                .iter()
                .find(|r| r.example == e.index && r.config == key)
                .unwrap();
            assert_eq!(r.prediction, predicted[i], "{r:?}");
            assert!((r.linf.unwrap() - sizes[i].linf).abs() < 1e-3, "{r:?}");
            assert!(
                (r.l2.unwrap() - sizes[i].l2).abs() <= 1e-4 * sizes[i].l2,
                "{r:?}"
            );
            assert_eq!(r.fit_fooling_rate, Some(rate));
            fooled += usize::from(!r.correct);
        }
        // The rows carry the fit's train fooling rate: the bare fit's for direct and transfer.
        for row in summary.rows.iter().filter(|r| r.eps == eps) {
            let rate = match row.mode.name() {
                "adaptive" => {
                    let path = whole.join(format!("universal/universal-{eps}-mp3.json"));
                    let info: avfoil::eval::universal::FitInfo =
                        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                    info.fooling_rate
                }
                _ => rate,
            };
            assert_eq!(row.fit_fooling_rate, Some(rate), "{row:?}");
        }
    }
    assert!(fooled > 0, "the large budget fools some test recordings");
    let md = std::fs::read_to_string(whole.join("report.md")).unwrap();
    assert!(
        md.contains("## Universal perturbations: fitted on the train part")
            && md.contains("universal at eps 4096, fitted on the bare model: fooling rate")
            && md.contains("universal at eps 4096, fitted through mp3"),
        "{md}"
    );

    // Three shards, each fitting for itself, then merged: the same fits and records.
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = tmp.path().join(format!("shard{i}"));
        evaluate(&scenario, &dir, false, Shard { index: i, count: 3 }).unwrap();
        assert_eq!(fits(&dir), fits(&whole), "shard {i}");
        dirs.push(dir);
    }
    let merged = tmp.path().join("merged");
    let outcome = avfoil::eval::merge(&dirs, &merged).unwrap();
    assert_eq!(measured(&merged), records);
    assert_eq!(fits(&merged), fits(&whole));
    assert_eq!(
        without_timing(outcome.summary),
        without_timing(summary.clone())
    );

    // Interrupted after 20 records: the kept fits are read back, the rest measured with them.
    let cut = tmp.path().join("cut");
    let copy = |to: &Path, lines: usize| {
        std::fs::create_dir_all(to.join("universal")).unwrap();
        let text = std::fs::read_to_string(whole.join(Results::FILE)).unwrap();
        let kept: String = text.split_inclusive('\n').take(lines).collect();
        std::fs::write(to.join(Results::FILE), kept).unwrap();
        for file in ["run.json", "scenario.toml"] {
            std::fs::copy(whole.join(file), to.join(file)).unwrap();
        }
        for (name, bytes) in fits(&whole) {
            std::fs::write(to.join("universal").join(name), bytes).unwrap();
        }
    };
    copy(&cut, 20);
    let resumed = evaluate(&scenario, &cut, true, Shard::default()).unwrap();
    assert_eq!(measured(&cut), records);
    assert_eq!(without_timing(resumed), without_timing(summary));
    assert_eq!(fits(&cut), fits(&whole));

    // A kept fit on other train examples is not this run's.
    let tampered = tmp.path().join("tampered");
    copy(&tampered, 20);
    let json = tampered.join("universal/universal-512.json");
    let text = std::fs::read_to_string(&json)
        .unwrap()
        .replace("\"examples\": 4", "\"examples\": 5");
    std::fs::write(&json, text).unwrap();
    let e = evaluate(&scenario, &tampered, true, Shard::default()).unwrap_err();
    assert!(e.to_string().contains("is not the fit of universal"), "{e}");
}

fn info_rate(dir: &Path, eps: f32) -> f64 {
    let path = dir.join(format!("universal/universal-{eps}.json"));
    let info: avfoil::eval::universal::FitInfo =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    info.fooling_rate
}

/// The `fit` keys: only on universal attacks, known values, a positive limit, a train part to fit
/// on; refused before any work with the file, line and key.
#[test]
fn universal_fit_keys_are_checked_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(universal_scenario(tmp.path())).unwrap();
    let fgm = good
        .replace("name = \"universal\"\n", "name = \"fgm\"\n")
        .replace("variant = \"sgd\"\nmax_iter = 2\nstep = 0.5\n", "");
    let cases: [(&str, String, &[&str]); 7] = [
        (
            "unknown value",
            good.replace("fit = \"train\"", "fit = \"test\""),
            &["line 16", "[[attack]] #1 (universal)", "fit", "\"test\""],
        ),
        (
            "not a string",
            good.replace("fit = \"train\"", "fit = 3"),
            &["[[attack]] #1 (universal)", "fit"],
        ),
        (
            "a zero limit",
            good.replace("fit_limit = 4", "fit_limit = 0"),
            &["line 17", "fit_limit", "at least 1"],
        ),
        (
            "a limit on a per-chunk fit",
            good.replace("fit = \"train\"", "fit = \"chunk\""),
            &["line 16", "fit_limit", "fit = \"train\" only"],
        ),
        (
            "fit on another attack",
            fgm.replace("fit_limit = 4\n", ""),
            &["line 16", "[[attack]] #1 (fgm)", "fit", "universal\" only"],
        ),
        (
            "fit_limit on another attack",
            fgm.replace("fit = \"train\"\n", ""),
            &["line 16", "[[attack]] #1 (fgm)", "fit_limit"],
        ),
        (
            "no train part",
            good.replace("limit = 6", "limit = 6\npart = \"all\""),
            &[
                "line 17",
                "[[attack]] #1 (universal)",
                "fit",
                "no train part",
            ],
        ),
    ];
    for (what, text, needles) in cases {
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, &text).unwrap();
        let out_dir = tmp.path().join("never");
        let err = evaluate(&path, &out_dir, false, Shard::default())
            .expect_err(what)
            .to_string();
        assert!(err.contains("bad.toml"), "{what}: {err}");
        for n in needles {
            assert!(err.contains(n), "{what}: {err:?} lacks {n:?}");
        }
        assert!(!out_dir.exists(), "{what}: work started");
    }
    // The default is the train fit; fit = "chunk" fits on the evaluated part, whichever it is.
    let path = tmp.path().join("ok.toml");
    let default = good.replace("fit = \"train\"\n", "");
    let scenario = avfoil::eval::Scenario::parse(&default, &path).unwrap();
    assert_eq!(
        scenario.attacks[0].fit,
        Some(avfoil::eval::scenario::FitOn::Train { limit: Some(4) })
    );
    let chunk = good
        .replace("fit = \"train\"", "fit = \"chunk\"")
        .replace("fit_limit = 4\n", "")
        .replace("limit = 6", "limit = 6\npart = \"all\"");
    let scenario = avfoil::eval::Scenario::parse(&chunk, &path).unwrap();
    assert_eq!(
        scenario.attacks[0].fit,
        Some(avfoil::eval::scenario::FitOn::Chunk)
    );
}
