//! A scenario with two settings of one new defence side by side and a chain of two new ones: each
//! is measured under its label, clean, transferred and adaptively.

use avfoil::eval::records::{Results, read_records};
use avfoil::eval::{Options, Shard};
use std::path::Path;

#[test]
fn two_median_settings_and_a_chain_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let fsdd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd/recordings");
    let root = dir.path().join("fsdd");
    std::fs::create_dir_all(root.join("recordings")).unwrap();
    for name in ["3_george_0.wav", "7_jackson_1.wav"] {
        std::fs::copy(fsdd.join(name), root.join("recordings").join(name)).unwrap();
    }
    let text = format!(
        r#"name = "preprocessors"
seed = 3
batch_size = 2
[model]
path = "spoken-digits"
[dataset]
loader = "fsdd"
root = "{}"
limit = 2
[[attack]]
name = "fgm"
eps = [256]
[[defence]]
name = "median"
label = "median-3"
window = 3
[[defence]]
name = "median"
label = "median-9"
window = 9
[[defence]]
label = "lowpass-then-6bit"
chain = [{{ name = "lowpass", cutoff = 2000 }}, {{ name = "bit-depth", bits = 6 }}]
[checks]
noise = false
"#,
        root.display()
    );
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("out");
    let options = Options {
        out: out.clone(),
        resume: false,
        shard: Shard::default(),
    };
    let device = avfoil::device::parse_device("cpu").unwrap();
    let summary = avfoil::eval::evaluate(&scenario, &options, &device, &mut |_, _| {})
        .unwrap()
        .summary;
    assert_eq!(summary.examples, 2);
    let (records, _) = read_records(&out.join(Results::FILE)).unwrap();
    for label in ["median-3", "median-9", "lowpass-then-6bit"] {
        for key in [
            format!("clean|{label}"),
            format!("fgm|256|{label}"),
            format!("fgm|256|{label}|adaptive"),
        ] {
            let n = records.iter().filter(|r| r.config == key).count();
            assert_eq!(n, 2, "{key}: one record per example");
        }
    }
    // The two settings and the chain's stages, as the scenario parsed them.
    let parsed =
        avfoil::eval::Scenario::parse(&std::fs::read_to_string(&scenario).unwrap(), &scenario)
            .unwrap();
    let params: Vec<serde_json::Value> = parsed.defences.iter().map(|d| d.chain.params()).collect();
    assert_eq!(params[0]["stages"][0]["window"], 3);
    assert_eq!(params[1]["stages"][0]["window"], 9);
    assert_eq!(params[2]["stages"][0]["name"], "lowpass");
    assert_eq!(params[2]["stages"][0]["cutoff"], 2000.0);
    assert_eq!(params[2]["stages"][1]["bits"], 6);
}
