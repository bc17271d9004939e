//! `[[certify]]` in an evaluation: randomised-smoothing certificates per example, the certified
//! accuracy curve in the summary and reports, and the same certificates whichever shard runs an
//! example.

use avfoil::eval::records::{Kind, Record, Results, read_records};
use avfoil::eval::{Options, Shard, Summary};
use std::path::{Path, PathBuf};

fn fsdd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd")
}

fn write_scenario(dir: &Path, certify: &str) -> PathBuf {
    let text = format!(
        r#"name = "certified"
seed = 11
batch_size = 2

[model]
path = "spoken-digits"

[dataset]
loader = "fsdd"
root = "{}"
limit = 4

[[attack]]
name = "fgm"
eps = [64]

[checks]
noise = false
{certify}"#,
        fsdd().display()
    );
    let path = dir.join("certified.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const TWO_SIGMAS: &str = r#"
[[certify]]
sigma = 100
n0 = 10
n = 100
alpha = 0.01

[[certify]]
label = "wide"
sigma = 3000
n0 = 10
n = 100
alpha = 0.01
radii = [0, 500, 1000]
"#;

fn evaluate(scenario: &Path, out: &Path, shard: Shard) -> avfoil::Result<Summary> {
    let options = Options {
        out: out.to_path_buf(),
        resume: false,
        shard,
    };
    let device = avfoil::device::parse_device("cpu").unwrap();
    avfoil::eval::evaluate(scenario, &options, &device, &mut |_, _| {}).map(|o| o.summary)
}

fn certify_records(dir: &Path) -> Vec<Record> {
    let (mut records, _) = read_records(&dir.join(Results::FILE)).unwrap();
    records.retain(|r| r.kind == Kind::Certify);
    for r in &mut records {
        r.seconds = 0.0;
    }
    records.sort_by(|a, b| (a.example, &a.config).cmp(&(b.example, &b.config)));
    records
}

#[test]
fn certificates_give_a_curve_and_do_not_depend_on_the_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write_scenario(tmp.path(), TWO_SIGMAS);
    let whole = tmp.path().join("whole");
    let summary = evaluate(&scenario, &whole, Shard::default()).unwrap();
    let records = certify_records(&whole);
    assert_eq!(records.len(), 4 * 2);
    assert_eq!(summary.certified.len(), 2);
    let narrow = &summary.certified[0];
    assert_eq!(narrow.label, "smoothing-100");
    assert_eq!(narrow.curve.len(), 10, "0 to 3 sigma by default");
    assert_eq!(narrow.curve[3].radius, 75.0);
    let wide = &summary.certified[1];
    let radii: Vec<f64> = wide.curve.iter().map(|p| p.radius).collect();
    assert_eq!(radii, vec![0.0, 500.0, 1000.0]);
    for row in &summary.certified {
        assert_eq!(row.examples, 4);
        // At radius 0 the curve is the smoothed model's accuracy, and it never rises.
        assert!(
            (row.curve[0].accuracy - row.accuracy).abs() < 1e-12,
            "{row:?}"
        );
        assert!(row.curve.windows(2).all(|w| w[1].accuracy <= w[0].accuracy));
    }
    // A mild sigma keeps most digits right; every record's certificate agrees with its flags.
    assert!(narrow.accuracy >= 0.5, "{narrow:?}");
    for r in &records {
        let c = r.certificate.as_ref().unwrap();
        assert_eq!(c.abstained, c.radius.is_none(), "{r:?}");
        if r.correct {
            assert!(!c.abstained && r.prediction == r.label);
            assert!(c.p_lower > 0.5);
        }
    }
    let md = std::fs::read_to_string(whole.join("report.md")).unwrap();
    assert!(
        md.contains("## Certified accuracy (randomised smoothing)"),
        "{md}"
    );
    assert!(md.contains("| 1000 | "), "{md}");
    assert!(md.contains("| 75.00 | "), "{md}");
    let html = std::fs::read_to_string(whole.join("report.html")).unwrap();
    assert!(html.contains("<table class=\"certified\">"));
    let json: Summary =
        serde_json::from_str(&std::fs::read_to_string(whole.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json.certified, summary.certified);

    // Two shards, each certifying the examples of its chunks: the same records.
    let mut from_shards = Vec::new();
    for i in 0..2 {
        let dir = tmp.path().join(format!("shard{i}"));
        evaluate(&scenario, &dir, Shard { index: i, count: 2 }).unwrap();
        from_shards.extend(certify_records(&dir));
    }
    from_shards.sort_by(|a, b| (a.example, &a.config).cmp(&(b.example, &b.config)));
    assert_eq!(from_shards, records);
}

#[test]
fn bad_certify_tables_fail_before_any_work_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (table, expected) in [
        ("\n[[certify]]\nsigma = 0\n", "sigma"),
        ("\n[[certify]]\nsigma = 10\nalpha = 0.9\n", "alpha"),
        ("\n[[certify]]\nsigma = 10\nradii = [-1]\n", "radii"),
        ("\n[[certify]]\nsigma = 10\nsamples = 5\n", "samples"),
        (
            "\n[[certify]]\nsigma = 10\n\n[[certify]]\nsigma = 10\n",
            "used twice",
        ),
    ] {
        let scenario = write_scenario(tmp.path(), table);
        let out = tmp.path().join("never");
        let err = evaluate(&scenario, &out, Shard::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{table}: {err}");
        assert!(err.contains("certified.toml"), "{err}");
        assert!(!out.exists(), "nothing written for {table}");
    }
}
