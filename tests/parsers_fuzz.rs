//! Every reader of untrusted bytes, fed random and mutated bytes: each must return a value or an
//! error, never panic, abort or allocate without bound. The seeds are small valid files of each
//! format; the mutations overwrite bytes, plant huge or zero 32-bit values (sizes, counts, rates in
//! headers) and truncate.
//!
//! The memory limit: this binary's allocator refuses any single allocation above
//! [`ALLOCATION_LIMIT`], which aborts the process (and fails the run) if a parser sizes a buffer
//! from a header before checking it. cargo-fuzz targets for the same readers are in `fuzz/`.

use avfoil::model::ModelConfig;
use avfoil::model::weights::{HostTensor, Weights, write_safetensors};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The largest single allocation any reader may make on hostile input here.
const ALLOCATION_LIMIT: usize = 1 << 30;

struct Capped;

// SAFETY: forwards to the system allocator, except that oversized requests get null (an allocation
// failure), which the standard library turns into an abort: the test then fails loudly.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Small valid files of every format, made once.
struct Seeds {
    npy: Vec<u8>,
    wav: Vec<u8>,
    gif: Vec<u8>,
    png: Vec<u8>,
    jpeg: Vec<u8>,
    mp4_444: Vec<u8>,
    mp4: Vec<u8>,
    mp4_fragmented: Vec<u8>,
    safetensors: Vec<u8>,
    pytorch: Vec<u8>,
    model_toml: Vec<u8>,
    scenario: Vec<u8>,
    onnx: Vec<u8>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        let array =
            avfoil::array::Array::new(vec![2, 3], vec![0.5, -1.0, 2.0, 0.0, 1.0, 3.0]).unwrap();
        avfoil::media::npy::write_npy(&at("a.npy"), &array).unwrap();
        avfoil::audio::wav::write_wav(
            &at("a.wav"),
            8000,
            &[0.0, 0.25, -0.5, 0.125],
            avfoil::audio::wav::WavEncoding::Int16,
        )
        .unwrap();
        let video =
            avfoil::video::Video::new(4, 2, 10.0, (0..48).map(|v| v as u8 * 5).collect()).unwrap();
        avfoil::video::io::write_video(&at("a.gif"), &video).unwrap();
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 2, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[9; 12]).unwrap();
        }
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "weight".to_string(),
            HostTensor {
                shape: vec![2, 3],
                data: vec![1.0; 6],
            },
        );
        write_safetensors(&at("w.safetensors"), &tensors).unwrap();
        let read = |name: &str| std::fs::read(at(name)).unwrap();
        Seeds {
            npy: read("a.npy"),
            wav: read("a.wav"),
            gif: read("a.gif"),
            png,
            jpeg: fixture("tests/fixtures/video/still_rgb.jpg"),
            mp4_444: fixture("tests/fixtures/video/x264_444.mp4"),
            mp4: fixture("tests/fixtures/video/x264_bframes.mp4"),
            mp4_fragmented: fixture("tests/fixtures/video/x264_fragmented.mp4"),
            safetensors: read("w.safetensors"),
            pytorch: fixture("tests/fixtures/raw_audio_cnn/model.pt"),
            model_toml: fixture("tests/fixtures/raw_audio_cnn/model.toml"),
            scenario: fixture("scenarios/audio-notebook.toml"),
            onnx: fixture("tests/fixtures/onnx/cnn1d.onnx"),
        }
    })
}

/// One change to a seed.
#[derive(Clone, Debug)]
enum Edit {
    /// Overwrite the byte at (offset mod len).
    Byte(usize, u8),
    /// Plant a little-endian 32-bit value (huge, zero, or one) at (offset mod len).
    Word(usize, u32),
    /// Keep only the first (n mod len) bytes.
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let word = prop_oneof![
        Just(u32::MAX),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0),
        Just(1),
        Just(0xffff),
        any::<u32>()
    ];
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(o, b)| Edit::Byte(o, b)),
        3 => (any::<usize>(), word).prop_map(|(o, w)| Edit::Word(o, w)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..6)
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for e in edits {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *e {
            Edit::Byte(o, b) => bytes[o % n] = b,
            Edit::Word(o, w) => {
                let at = o % n;
                for (i, b) in w.to_le_bytes().into_iter().enumerate() {
                    if at + i < n {
                        bytes[at + i] = b;
                    }
                }
            }
            Edit::Truncate(k) => bytes.truncate(k % n),
        }
    }
    bytes
}

/// Each reader, on bytes, as "did it return" (the value itself does not matter).
fn read_npy(b: &[u8]) {
    let _ = avfoil::media::npy::npy_from_bytes("fuzz.npy", b);
}
fn read_wav(b: &[u8]) {
    let _ = avfoil::audio::wav::wav_from_bytes("fuzz.wav", b);
}
fn read_gif(b: &[u8]) {
    let _ = avfoil::video::gif_read::decode_gif(Path::new("fuzz.gif"), b);
}
fn read_png(b: &[u8]) {
    let _ = avfoil::video::still::decode_still(
        Path::new("fuzz.png"),
        b,
        avfoil::video::still::StillFormat::Png,
    );
}
fn read_jpeg(b: &[u8]) {
    let _ = avfoil::video::still::decode_still(
        Path::new("fuzz.jpg"),
        b,
        avfoil::video::still::StillFormat::Jpeg,
    );
}
fn read_mp4(b: &[u8]) {
    let _ = avfoil::video::mp4_read::decode_mp4(Path::new("fuzz.mp4"), b);
}
fn read_onnx(b: &[u8]) {
    let _ = avfoil::onnx::Plan::from_bytes(Path::new("fuzz.onnx"), b);
}
fn read_safetensors(b: &[u8]) {
    let _ = Weights::from_safetensors_bytes("fuzz.safetensors", b);
}
fn read_model_toml(b: &[u8]) {
    let _ = ModelConfig::parse(&String::from_utf8_lossy(b), Path::new("model.toml"));
}
fn read_scenario(b: &[u8]) {
    let _ = avfoil::eval::scenario::Scenario::parse(
        &String::from_utf8_lossy(b),
        Path::new("scenario.toml"),
    );
}

/// The PyTorch reader takes a path: the bytes go through a file.
fn read_pytorch(b: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("fuzz.pt");
    std::fs::write(&path, b).unwrap();
    let _ = Weights::load(&path);
}

macro_rules! fuzz_reader {
    ($name:ident, $seed:ident, $read:ident, $cases:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: $cases, ..ProptestConfig::default() })]
            #[test]
            fn $name(edits in edits(), noise in prop::collection::vec(any::<u8>(), 0..512)) {
                $read(&mutate(&seeds().$seed, &edits));
                $read(&noise);
                // The format's magic followed by noise gets past the first check.
                let mut magic = seeds().$seed[..seeds().$seed.len().min(16)].to_vec();
                magic.extend_from_slice(&noise);
                $read(&magic);
            }
        }
    };
}

fuzz_reader!(npy_reader_survives_hostile_bytes, npy, read_npy, 512);
fuzz_reader!(wav_reader_survives_hostile_bytes, wav, read_wav, 512);
fuzz_reader!(gif_reader_survives_hostile_bytes, gif, read_gif, 512);
fuzz_reader!(png_reader_survives_hostile_bytes, png, read_png, 256);
fuzz_reader!(jpeg_reader_survives_hostile_bytes, jpeg, read_jpeg, 256);
// Three MP4 seeds: plain files (moov with sample tables) that OpenH264 decodes (High, B-frames)
// and refuses (4:4:4), and a fragmented one (moof/trun).
proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]
    #[test]
    fn mp4_reader_survives_hostile_bytes(
        edits in edits(),
        which in 0..3usize,
        noise in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let seeds = seeds();
        let seed = [&seeds.mp4, &seeds.mp4_444, &seeds.mp4_fragmented][which];
        read_mp4(&mutate(seed, &edits));
        read_mp4(&noise);
    }
}
fuzz_reader!(onnx_reader_survives_hostile_bytes, onnx, read_onnx, 256);
// A mutated graph that still parses is also run (the probe batch every ONNX model gets at load):
// shapes, pads and strides from hostile attributes must give errors, not panics or huge buffers.
proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn onnx_models_survive_hostile_graphs(edits in edits()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, mutate(&seeds().onnx, &edits)).unwrap();
        let device = burn::tensor::Device::flex();
        let _ = avfoil::classifier::Model::open(path.to_str().unwrap(), &device);
    }
}
fuzz_reader!(
    safetensors_reader_survives_hostile_bytes,
    safetensors,
    read_safetensors,
    512
);
fuzz_reader!(
    pytorch_reader_survives_hostile_bytes,
    pytorch,
    read_pytorch,
    64
);
fuzz_reader!(
    model_toml_reader_survives_hostile_bytes,
    model_toml,
    read_model_toml,
    512
);
fuzz_reader!(
    scenario_reader_survives_hostile_bytes,
    scenario,
    read_scenario,
    256
);

/// The headers that crashed or exhausted memory before, as fixed cases.
#[test]
fn known_hostile_headers_are_errors() {
    // A GIF whose logical screen is 65535 × 65535: the canvas was allocated before any check.
    let mut gif = seeds().gif.clone();
    gif[6..10].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let e = avfoil::video::gif_read::decode_gif(Path::new("huge.gif"), &gif).unwrap_err();
    assert!(e.to_string().contains("huge.gif"), "{e}");
    // A GIF that ends after its header read as "Unexpected End of File".
    let header_only = &seeds().gif[..13];
    let e = avfoil::video::gif_read::decode_gif(Path::new("empty.gif"), header_only)
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty.gif") && e.contains("no frames"), "{e}");
    // A WAV claiming 2^31 − 1 Hz.
    let mut wav = seeds().wav.clone();
    wav[24..28].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    // The byte rate agrees (16-bit mono), so only the rate is wrong.
    wav[28..32].copy_from_slice(&0x7fff_ffffu32.wrapping_mul(2).to_le_bytes());
    let e = avfoil::audio::wav::wav_from_bytes("rate.wav", &wav).unwrap_err();
    assert!(e.to_string().contains("2147483647 Hz"), "{e}");
}

/// Where the payload of the first `kind` box starts: the type preceded by a size that fits the
/// file (which skips brand names in `ftyp`).
fn box_payload(bytes: &[u8], kind: &[u8; 4]) -> usize {
    (4..bytes.len() - 4)
        .find(|&p| {
            let size = u32::from_be_bytes(bytes[p - 4..p].try_into().unwrap()) as usize;
            &bytes[p..p + 4] == kind && size >= 8 && p - 4 + size <= bytes.len()
        })
        .unwrap_or_else(|| panic!("the seed has a {:?} box", String::from_utf8_lossy(kind)))
        + 4
}

/// `bytes` with the 32-bit big-endian word `at` bytes into the first `kind` box's payload replaced.
fn with_word(bytes: &[u8], kind: &[u8; 4], at: usize, word: u32) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let start = box_payload(&bytes, kind);
    bytes[start + at..start + at + 4].copy_from_slice(&word.to_be_bytes());
    bytes
}

fn mp4_error(bytes: &[u8]) -> String {
    avfoil::video::mp4_read::decode_mp4(Path::new("hostile.mp4"), bytes)
        .unwrap_err()
        .to_string()
}

/// Zero-sized boxes made re_mp4 loop forever wherever it reads a list of boxes (all found by the
/// MP4 case above): inside a container (`stbl`), inside an `ilst` tag, inside a sample entry.
#[test]
fn zero_sized_mp4_boxes_in_any_list_are_errors() {
    let seed = &seeds().mp4;
    // The first child of stbl (stsd), the first tag in ilst, the avcC inside avc1 (after the
    // entry's 78 bytes of fixed fields).
    for (kind, at) in [(b"stbl", 0), (b"ilst", 0), (b"avc1", 78)] {
        let e = mp4_error(&with_word(seed, kind, at, 0));
        assert!(
            e.contains("hostile.mp4") && e.contains("claims 0 bytes"),
            "{e}"
        );
    }
}

/// A 4-byte sample count of 2^32 - 1 made re_mp4 build billions of sample records (minutes, then an
/// allocation of hundreds of gigabytes): in a plain file's `stsz` (with a constant sample size,
/// so no table backs the count) and in a fragment's `trun` (with no per-sample fields).
#[test]
fn sample_counts_larger_than_the_file_are_errors() {
    // stsz: version and flags, sample size, sample count.
    let plain = with_word(&seeds().mp4, b"stsz", 4, 100);
    let e = mp4_error(&with_word(&plain, b"stsz", 8, u32::MAX));
    assert!(e.contains("4294967295 samples of 100 bytes"), "{e}");
    // trun: flags cleared (no per-sample fields), then the count.
    let fragmented = with_word(&seeds().mp4_fragmented, b"trun", 0, 0);
    let e = mp4_error(&with_word(&fragmented, b"trun", 4, u32::MAX));
    assert!(e.contains("4294967295 samples in a"), "{e}");
}
