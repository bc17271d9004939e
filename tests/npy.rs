//! `.npy` reading (float32, float64, int16; C order) and atomic float32 writing.

use avfoil::array::Array;
use avfoil::media::npy::{read_npy, write_npy};
use std::io::Write;

/// A minimal .npy v1 file with the given header dict and raw data.
fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

#[test]
fn reads_float32_float64_and_int16() {
    let dir = tempfile::tempdir().unwrap();
    let f32s: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [1.5f64, -2.0, 3.25, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let i16s: Vec<u8> = [-32768i16, 32767, 0, 7]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = read_npy(&write(
        &dir,
        "a.npy",
        &npy_bytes("<f4", false, "(2, 2)", &f32s),
    ))
    .unwrap();
    assert_eq!(
        a,
        Array {
            shape: vec![2, 2],
            data: vec![1.5, -2.0, 3.25, 0.0]
        }
    );
    let b = read_npy(&write(
        &dir,
        "b.npy",
        &npy_bytes("<f8", false, "(4,)", &f64s),
    ))
    .unwrap();
    assert_eq!(b.data, vec![1.5, -2.0, 3.25, 0.0]);
    let c = read_npy(&write(
        &dir,
        "c.npy",
        &npy_bytes("<i2", false, "(1, 4)", &i16s),
    ))
    .unwrap();
    assert_eq!(
        c,
        Array {
            shape: vec![1, 4],
            data: vec![-32768.0, 32767.0, 0.0, 7.0]
        }
    );
}

#[test]
fn rejects_other_dtypes_fortran_order_and_garbage_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("int32.npy", npy_bytes("<i4", false, "(2,)", &[0; 8]), "int"),
        ("uint8.npy", npy_bytes("|u1", false, "(2,)", &[0; 2]), "u1"),
        (
            "fortran.npy",
            npy_bytes("<f4", true, "(2, 2)", &[0; 16]),
            "Fortran",
        ),
        (
            "short.npy",
            npy_bytes("<f4", false, "(8,)", &[0; 8]),
            "truncated",
        ),
        ("garbage.npy", b"not numpy at all".to_vec(), "not a .npy"),
    ];
    for (name, bytes, needle) in cases {
        let err = read_npy(&write(&dir, name, &bytes))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
    let missing = read_npy(&dir.path().join("missing.npy"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.npy"), "{missing}");
}

#[test]
fn writes_float32_that_reads_back_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let a = Array {
        shape: vec![2, 1, 3],
        data: vec![0.5, -1.0, 2.0, 1e-8, 3e7, -0.0],
    };
    let p = dir.path().join("out.npy");
    write_npy(&p, &a).unwrap();
    assert_eq!(read_npy(&p).unwrap(), a);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let bad = write_npy(&dir.path().join("no/such/dir/out.npy"), &a)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("out.npy"), "{bad}");
}
