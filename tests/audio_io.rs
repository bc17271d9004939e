//! WAV reading and writing, resampling against sox, and the dataset loaders on real recordings.

mod common;
use avfoil::audio::resample::resample;
use avfoil::audio::wav::{WavEncoding, read_wav, write_wav};
use avfoil::audio::{ClipFormat, Placement};
use avfoil::data::{DigitCorpus, DigitLayout};
use avfoil::scale::AudioScale;
use common::{snr_db, write_stereo_wav};
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(rel)
}

#[test]
fn real_audiomnist_clips_read_as_48k_mono() {
    let corpus = DigitCorpus::open(&shared("real/audiomnist")).unwrap();
    assert_eq!(corpus.layout, DigitLayout::AudioMnist);
    assert_eq!(corpus.clips.len(), 6);
    let clip = corpus.clips.iter().find(|c| c.speaker == "56").unwrap();
    assert_eq!((clip.digit, clip.index), (6, 49));
    let wav = read_wav(&clip.path).unwrap();
    assert_eq!((wav.sample_rate, wav.channels), (48000, 1));
    let peak = wav.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(
        peak > 0.001 && peak < 0.1,
        "real AudioMNIST clips are quiet: {peak}"
    );
    // Speaker-disjoint split.
    let (train, test) = corpus.split(&["56".to_string(), "01".to_string()]);
    assert_eq!((train.len(), test.len()), (4, 2));
    assert!(test.iter().all(|c| c.speaker == "56" || c.speaker == "01"));
}

#[test]
fn fsdd_split_by_index() {
    let corpus = DigitCorpus::open(&shared("fsdd")).unwrap();
    assert_eq!(corpus.layout, DigitLayout::Fsdd);
    assert_eq!(corpus.clips.len(), 2000);
    assert_eq!(corpus.speakers(), ["george", "jackson", "lucas", "nicolas"]);
    let (train, test) = corpus.split(&[]);
    assert_eq!((train.len(), test.len()), (1800, 200));
    assert!(test.iter().all(|c| c.index <= 4));
}

#[test]
fn clip_format_resamples_fits_and_scales() {
    let format = ClipFormat {
        sample_rate: 8000,
        len: 8000,
        scale: AudioScale::Int16,
        placement: Placement::Centre,
    };
    let path = shared("real/audiomnist/56/6_56_49.wav");
    let x = format.load(&path, 0).unwrap();
    assert_eq!(x.len(), 8000);
    let raw = read_wav(&path).unwrap().samples;
    let n = raw.len().div_ceil(6);
    // Centred: zeros on both sides, and int16 units.
    let start = (8000 - n) / 2;
    assert!(x[..start].iter().all(|&v| v == 0.0));
    assert!(x[start + n..].iter().all(|&v| v == 0.0));
    let peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(peak > 30.0 && peak < 32768.0);
}

#[test]
fn resampling_agrees_with_sox() {
    let clip = read_wav(&shared("real/audiomnist/56/6_56_49.wav")).unwrap();
    let ours = resample(&clip.samples, 48000, 8000).unwrap();
    let sox = read_wav(&fixture("sox_6_56_49_8k.wav")).unwrap();
    assert_eq!(sox.sample_rate, 8000);
    assert_eq!(ours.len(), sox.samples.len());
    let snr = snr_db(&sox.samples, &ours);
    // Different anti-aliasing filters (rubato's FFT, sox's polyphase) differ near Nyquist;
    // a half-sample misalignment would drop this to about 10 dB.
    eprintln!("resampling: SNR against sox {snr:.1} dB");
    assert!(snr > 25.0, "SNR against sox {snr:.1} dB");
}

#[test]
fn wav_round_trips_float_exactly_and_int16_rounded() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> = (0..1000)
        .map(|i| ((i as f32) * 0.37).sin() * 0.3 + 1e-7)
        .collect();
    let f = dir.path().join("f.wav");
    write_wav(&f, 8000, &x, WavEncoding::Float32).unwrap();
    assert_eq!(read_wav(&f).unwrap().samples, x);
    let i = dir.path().join("i.wav");
    let loud = [1.0f32, -1.0, 0.5, 0.49 / 32768.0];
    write_wav(&i, 8000, &loud, WavEncoding::Int16).unwrap();
    let back = read_wav(&i).unwrap().samples;
    assert_eq!(
        back,
        [32767.0 / 32768.0, -1.0, 0.5, 0.0],
        "saturates at full scale, rounds"
    );
}

#[test]
fn bad_wavs_get_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, bytes: &[u8], want: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = read_wav(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    };
    check("text.wav", b"hello, this is not audio", "RIFF");
    check("empty.wav", b"", "RIFF");
    let good = std::fs::read(shared("fsdd/recordings/0_george_0.wav")).unwrap();
    check("cut.wav", &good[..good.len() / 2], "truncated");
    let mut header_only = good[..44].to_vec();
    header_only[40..44].copy_from_slice(&0u32.to_le_bytes());
    check("nodata.wav", &header_only, "no samples");
    let mut alaw = good.clone();
    alaw[20..22].copy_from_slice(&6u16.to_le_bytes()); // format tag 6: A-law
    check("alaw.wav", &alaw, "WAV");

    // Stereo where mono is expected.
    let stereo = dir.path().join("stereo.wav");
    write_stereo_wav(&stereo, 10);
    let e = read_wav(&stereo)
        .unwrap()
        .into_mono(&stereo)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stereo.wav") && e.contains("2 channels"), "{e}");
}

#[test]
fn a_folder_without_recordings_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = DigitCorpus::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("neither AudioMNIST"), "{e}");
}

/// A canonical 44-byte WAV header followed by `data`.
fn wav_bytes(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate.wrapping_mul(u32::from(block))).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}

/// A 244-byte WAV claiming 2^31 − 1 Hz made the resampler allocate 8 GB; rates outside what audio
/// uses are refused when the header is read, naming the file and the range.
#[test]
fn sample_rates_outside_audio_are_refused_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let samples = vec![0u8; 200];
    for (name, rate) in [
        ("huge.wav", i32::MAX as u32),
        ("slow.wav", 999),
        ("fast.wav", 768_001),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, wav_bytes(1, 1, rate, 16, &samples)).unwrap();
        let e = read_wav(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(&format!("{rate} Hz")), "{e}");
        assert!(e.contains("1000..=768000"), "{e}");
    }
    for rate in [1_000, 768_000] {
        let p = dir.path().join(format!("ok{rate}.wav"));
        std::fs::write(&p, wav_bytes(1, 1, rate, 16, &samples)).unwrap();
        assert_eq!(read_wav(&p).unwrap().sample_rate, rate);
    }
    let e = avfoil::audio::resample::resample(&[0.0; 10], 8000, u32::MAX).unwrap_err();
    assert!(e.to_string().contains("sample_rate"), "{e}");
}

/// A 64-bit float WAV was reported as "bits per sample is not 32".
#[test]
fn a_64_bit_float_wav_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("double.wav");
    let data: Vec<u8> = [0.25f64, -0.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&p, wav_bytes(3, 1, 8000, 64, &data)).unwrap();
    let e = read_wav(&p).unwrap_err().to_string();
    assert!(
        e.contains("double.wav") && e.contains("64-bit float") && e.contains("float 32-bit"),
        "{e}"
    );
}
