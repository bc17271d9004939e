//! `avfoil data spoken-digits` argument checking through the binary (no TTS engine needed).

use std::process::Command;

fn avfoil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avfoil"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn bad_arguments_name_the_parameter_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let base = [
        "data",
        "spoken-digits",
        "--out",
        out_s,
        "--repetitions",
        "1",
    ];
    for (extra, expect) in [
        (&["--speakers", "100"][..], "--speakers"),
        (&["--speakers", "0"][..], "--speakers"),
        (
            &["--speakers", "5", "--first-speaker", "97"][..],
            "speakers",
        ),
        (&["--speakers", "1", "--engines", "mbrola"][..], "mbrola"),
    ] {
        let o = avfoil(&[&base[..], extra].concat());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?} wrote output");
    }
}
