//! The generator end to end on whichever engines this machine has (skipping, visibly, when it has
//! none), plus the pure parts: trimming, padding, roster order, draws, missing-engine errors.

use super::*;
use crate::audio::wav::read_wav;
use crate::data::audiomnist::read_meta;
use crate::data::{DigitCorpus, DigitLayout};
use std::collections::BTreeSet;

/// A plan, or `None` after printing a visible SKIPPED line when the engines are not installed.
fn plan_or_skip(options: SpokenDigitsOptions) -> Option<SpokenDigitsPlan> {
    let engines = options.engines.clone();
    match SpokenDigitsPlan::new(options) {
        Ok(plan) => Some(plan),
        Err(Error::Unsupported(why)) => {
            match engines {
                None => eprintln!(
                    "SKIPPED: no TTS engine installed (apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts): {why}"
                ),
                Some(list) => eprintln!("SKIPPED: TTS engine {list:?} not installed: {why}"),
            }
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn missing_programs() -> Programs {
    Programs {
        espeak_ng: "avfoil-test-no-such-espeak-ng".into(),
        flite: "avfoil-test-no-such-flite".into(),
        festival: "avfoil-test-no-such-festival".into(),
    }
}

/// Checks every clip of a generated corpus against AudioMNIST's format and our guarantees.
fn check_corpus(root: &Path, speakers: &[&str], repetitions: u32) {
    let corpus = DigitCorpus::open(root).unwrap();
    assert_eq!(corpus.layout, DigitLayout::AudioMnist);
    assert_eq!(corpus.speakers(), speakers);
    assert_eq!(
        corpus.clips.len(),
        speakers.len() * 10 * repetitions as usize
    );
    let (lo, hi) = (db_to_gain(LEVEL_DB.0) as f32, db_to_gain(LEVEL_DB.1) as f32);
    for clip in &corpus.clips {
        let spec = hound::WavReader::open(&clip.path).unwrap().spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (48000, 1, 16),
            "{}",
            clip.path.display()
        );
        assert_eq!(spec.sample_format, hound::SampleFormat::Int);
        let samples = read_wav(&clip.path).unwrap().samples;
        assert!(samples.len() <= MAX_SAMPLES, "{}", clip.path.display());
        let p = peak(&samples);
        // One int16 step of rounding either way.
        assert!(
            p >= lo - 1.0 / 32768.0 && p <= hi + 1.0 / 32768.0,
            "{}: peak {p}",
            clip.path.display()
        );
        let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
        assert!(rms > p * 0.02, "{}: nearly silent", clip.path.display());
        assert!(samples[..PAD_SAMPLES.0].iter().all(|&s| s == 0.0));
    }
    let meta = read_meta(&root.join("data").join(META_FILE)).unwrap();
    for s in speakers {
        let m = &meta[*s];
        assert_eq!(m.recording_room.as_deref(), Some("tts"));
        assert!(m.age.is_some() && m.gender.is_some() && m.accent.is_some());
    }
}

#[test]
fn two_speakers_make_an_audiomnist_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let Some(plan) = plan_or_skip(SpokenDigitsOptions::new(dir.path(), 2, 1)) else {
        return;
    };
    assert_eq!(plan.clip_count(), 20);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let summary = plan
        .run(&|| {
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(done.into_inner(), 20);
    assert_eq!((summary.speakers, summary.clips), (2, 20));
    check_corpus(dir.path(), &["01", "02"], 1);
    let text = std::fs::read_to_string(dir.path().join("data").join(META_FILE)).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["01"]["synthesizer"]["voice"],
        plan.speakers()[0].voice.name
    );
    assert!(
        text.contains("\n    \"01\": {\n        \"accent\""),
        "{text}"
    );

    // Speaker 02 on its own is byte for byte the 02 of the two-speaker run.
    let alone = tempfile::tempdir().unwrap();
    let mut options = SpokenDigitsOptions::new(alone.path(), 1, 1);
    options.first_speaker = 2;
    SpokenDigitsPlan::new(options).unwrap().run(&|| {}).unwrap();
    for clip in DigitCorpus::open(alone.path()).unwrap().clips {
        let twin = dir
            .path()
            .join("data/02")
            .join(clip.path.file_name().unwrap());
        assert_eq!(
            std::fs::read(&clip.path).unwrap(),
            std::fs::read(twin).unwrap()
        );
    }
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let run = |seed: u64| -> Option<Vec<(String, Vec<u8>)>> {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SpokenDigitsOptions::new(dir.path(), 1, 1);
        options.seed = seed;
        plan_or_skip(options)?.run(&|| {}).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = walk(&dir.path().join("data"))
            .into_iter()
            .map(|p| {
                let rel = p.strip_prefix(dir.path()).unwrap().display().to_string();
                (rel, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        Some(files)
    };
    let Some(a) = run(7) else { return };
    assert_eq!(a.len(), 11, "10 clips and the meta file");
    assert_eq!(a, run(7).unwrap());
    assert_ne!(a, run(8).unwrap());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// festival runs from a generated script; its three voices use both pitch mechanisms. Speaker 2
/// is added to an existing corpus, which must keep speaker 1's meta entry.
#[test]
fn festival_voices_and_extending_a_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SpokenDigitsOptions::new(dir.path(), 2, 1);
    options.engines = Some(vec![Engine::Festival]);
    let Some(plan) = plan_or_skip(options.clone()) else {
        return;
    };
    plan.run(&|| {}).unwrap();
    // Leftovers of an earlier, longer run of speaker 02: the stale clip goes, other files stay.
    let folder = dir.path().join("data/02");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("3_02_7.wav"), b"stale").unwrap();
    std::fs::write(folder.join("notes.txt"), b"kept").unwrap();
    options.first_speaker = 2;
    options.speakers = 2;
    let plan = SpokenDigitsPlan::new(options).unwrap();
    let summary = plan.run(&|| {}).unwrap();
    assert_eq!(summary.durations[0].engine, Engine::Festival);
    check_corpus(dir.path(), &["01", "02", "03"], 1);
    assert!(folder.join("notes.txt").is_file());
    let voices: BTreeSet<String> = plan
        .speakers()
        .iter()
        .map(|s| s.voice.name.clone())
        .collect();
    assert_eq!(voices.len(), 2, "{voices:?}");
}

/// AudioMNIST's own recordings have the same folder and file names as generated ones: a speaker
/// folder holding clips with no `synthesizer` meta entry is never regenerated.
#[test]
fn recordings_avfoil_did_not_make_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let folder = data.join("01");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("0_01_0.wav"), b"a real recording").unwrap();
    let voice = roster(&all_installed())[0].clone();
    let speakers = [SpeakerPlan::draw(1, voice.clone(), 0, 1)];
    let e = check_existing_speakers(&data, &speakers).unwrap_err();
    assert!(
        e.to_string().contains("did not synthesise") && e.to_string().contains("--first-speaker"),
        "{e}"
    );
    // AudioMNIST's meta entry (no synthesizer) does not make it ours.
    let real = r#"{"01": {"accent": "german", "age": "30", "gender": "male"}}"#;
    std::fs::write(data.join(META_FILE), real).unwrap();
    assert!(check_existing_speakers(&data, &speakers).is_err());
    // Another speaker, or a folder avfoil wrote, is fine.
    assert!(check_existing_speakers(&data, &[SpeakerPlan::draw(2, voice, 0, 1)]).is_ok());
    write_meta(&data.join(META_FILE), &speakers, 0).unwrap();
    assert!(check_existing_speakers(&data, &speakers).is_ok());
    assert_eq!(
        std::fs::read(folder.join("0_01_0.wav")).unwrap(),
        b"a real recording"
    );
}

#[test]
fn flite_voices_including_the_resampled_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SpokenDigitsOptions::new(dir.path(), 2, 1);
    options.engines = Some(vec![Engine::Flite]);
    options.first_speaker = 3; // rms (pitch by resampling), slt
    let Some(plan) = plan_or_skip(options) else {
        return;
    };
    assert_eq!(plan.speakers()[0].voice.pitch, PitchControl::Tape);
    plan.run(&|| {}).unwrap();
    check_corpus(dir.path(), &["03", "04"], 1);
}

#[test]
fn a_missing_requested_engine_names_its_package() {
    for engine in Engine::ALL {
        let mut options = SpokenDigitsOptions::new("/nonexistent", 1, 1);
        options.engines = Some(vec![engine]);
        options.programs = missing_programs();
        let err = SpokenDigitsPlan::new(options).unwrap_err().to_string();
        assert!(
            err.contains(&format!("apt-get install {}", engine.debian_packages())),
            "{err}"
        );
        assert!(err.contains("no-such"), "names the program: {err}");
    }
}

#[test]
fn no_engine_at_all_is_an_error_naming_every_package() {
    let mut options = SpokenDigitsOptions::new("/nonexistent", 1, 1);
    options.programs = missing_programs();
    let err = SpokenDigitsPlan::new(options).unwrap_err().to_string();
    for engine in Engine::ALL {
        assert!(err.contains(&engine.install_hint()), "{err}");
    }
}

#[test]
fn default_engines_skip_a_missing_one() {
    let mut options = SpokenDigitsOptions::new("/nonexistent", 3, 1);
    options.programs.espeak_ng = "avfoil-test-no-such-espeak-ng".into();
    let Some(plan) = plan_or_skip(options) else {
        return;
    };
    assert_eq!(plan.skipped().len(), 1);
    assert!(plan.skipped()[0].contains("apt-get install espeak-ng"));
    assert!(
        plan.speakers()
            .iter()
            .all(|s| s.voice.engine != Engine::EspeakNg)
    );
}

#[test]
fn speaker_ids_stay_two_digits() {
    let mut options = SpokenDigitsOptions::new("/nonexistent", 99, 1);
    assert!(options.validate().is_ok());
    options.first_speaker = 2;
    let err = options.validate().unwrap_err().to_string();
    assert!(err.contains("speakers") && err.contains("99"), "{err}");
    options.first_speaker = 0;
    assert!(options.validate().is_err());
    let options = SpokenDigitsOptions::new("/nonexistent", 1, 0);
    assert!(
        options
            .validate()
            .unwrap_err()
            .to_string()
            .contains("repetitions")
    );
}

fn all_installed() -> BTreeMap<Engine, Vec<String>> {
    let mut m = BTreeMap::new();
    m.insert(Engine::EspeakNg, vec![]);
    m.insert(
        Engine::Flite,
        ["kal16", "awb", "rms", "slt"].map(String::from).to_vec(),
    );
    m.insert(
        Engine::Festival,
        ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
            .map(String::from)
            .to_vec(),
    );
    m
}

#[test]
fn the_roster_interleaves_engines_and_has_no_duplicates() {
    let r = roster(&all_installed());
    assert_eq!(r.len(), 84 + 4 + 3);
    let engines: Vec<Engine> = r.iter().take(6).map(|v| v.engine).collect();
    use Engine::*;
    assert_eq!(
        engines,
        [EspeakNg, Flite, Festival, EspeakNg, Flite, Festival]
    );
    assert_eq!(r[0].name, "en-us+klatt");
    assert_eq!(r[3].name, "en-gb+klatt3");
    let names: BTreeSet<&str> = r.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), r.len());
    // Only the listed voices of an engine are used.
    let mut some = all_installed();
    some.insert(Engine::Festival, vec!["kal_diphone".into()]);
    some.remove(&Engine::EspeakNg);
    let r = roster(&some);
    assert_eq!(r.len(), 5);
}

#[test]
fn draws_depend_only_on_seed_and_speaker() {
    let r = roster(&all_installed());
    let a = SpeakerPlan::draw(5, r[4].clone(), 3, 2);
    assert_eq!(a, SpeakerPlan::draw(5, r[4].clone(), 3, 2));
    assert_ne!(a, SpeakerPlan::draw(6, r[4].clone(), 3, 2));
    // More repetitions leave the earlier ones alone.
    let b = SpeakerPlan::draw(5, r[4].clone(), 3, 3);
    assert_eq!(a.clips[..], b.clips[..20]);
    for c in &b.clips {
        assert!((LEVEL_DB.0..=LEVEL_DB.1).contains(&c.level_db));
        assert!((PAD_SAMPLES.0..=PAD_SAMPLES.1).contains(&c.pads.0));
    }
}

#[test]
fn silence_is_trimmed_by_frames() {
    let rate = 16000;
    let mut x = vec![0.0f32; 1600];
    x[100] = 0.001; // a click far below the speech: -60 dB
    x.extend(std::iter::repeat_n(0.5, 800));
    x.extend(vec![0.0; 1600]);
    let t = trim_silence(&x, rate);
    assert_eq!(t.len(), 800);
    assert!(trim_silence(&[0.0; 100], rate).is_empty());
}

#[test]
fn padding_shrinks_then_the_speech_is_cropped() {
    let speech = vec![0.1f32; 40_000];
    let (clip, kept, shortened) = place(&speech, (4800, 4800));
    assert!(shortened);
    assert_eq!(kept, 40_000);
    assert!(clip.len() <= MAX_SAMPLES);
    let (clip, kept, _) = place(&speech, (1000, 1000));
    assert_eq!((clip.len(), kept), (42_000, 40_000));
    let long = vec![0.1f32; 50_000];
    let (clip, kept, _) = place(&long, (3000, 3000));
    assert_eq!(clip.len(), MAX_SAMPLES);
    assert_eq!(kept, MAX_SAMPLES - 2 * PAD_SAMPLES.0);
    assert_eq!(clip[PAD_SAMPLES.0 + kept - 1], 0.0, "faded out");
}

#[test]
fn missing_voices_of_an_installed_engine_are_noted() {
    let note = missing_voices(Engine::Festival, &["kal_diphone".to_string()]).unwrap();
    assert!(note.contains("ked_diphone") && note.contains("cmu_us_slt_arctic_hts"));
    assert!(note.contains("festvox-kdlpc16k"), "{note}");
    assert!(!note.contains("kal_diphone,"), "{note}");
    assert_eq!(missing_voices(Engine::EspeakNg, &[]), None);
}

#[test]
fn only_clip_names_of_the_speaker_are_stale_candidates() {
    assert!(is_clip_name("3_02_17.wav", "02"));
    for name in [
        "3_03_1.wav",
        "33_02_1.wav",
        "3_02_.wav",
        "3_02_1.txt",
        "notes.txt",
        "x_02_1.wav",
    ] {
        assert!(!is_clip_name(name, "02"), "{name}");
    }
}

#[test]
fn tape_rates_keep_the_resampling_ratio_small() {
    assert_eq!(tape_rate(16000, 1.0), 16000);
    assert_eq!(tape_rate(16000, 1.05), 16800);
    assert_eq!(tape_rate(32000, 0.925), 29600);
    let len = resample(&vec![0.1; 16000], tape_rate(16000, 1.05), 48000)
        .unwrap()
        .len();
    assert_eq!(len, (16000f64 * 48000.0 / 16800.0).ceil() as usize);
}

/// Speech too long for 0.99 s is re-synthesised faster rather than cut. No digit is that long at
/// the drawn rates, so the word is doubled.
#[test]
fn a_clip_too_long_is_resynthesised_faster() {
    let mut options = SpokenDigitsOptions::new("/nonexistent", 1, 1);
    options.engines = Some(vec![Engine::EspeakNg]);
    if plan_or_skip(options).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let voice = engine_voices(Engine::EspeakNg).remove(0);
    let clip = ClipPlan {
        digit: 7,
        repetition: 0,
        prosody: Prosody {
            pitch: 50.0,
            rate: 80.0,
        },
        level_db: -30.0,
        pads: (PAD_SAMPLES.1, PAD_SAMPLES.1),
    };
    let request = Request {
        word: "seven seven", // twice as long as any digit, to force a re-synthesis

        prosody: clip.prosody,
        out: tmp.path().join("0.wav"),
    };
    let program = Programs::default().espeak_ng;
    engine::synthesize(&voice, &program, std::slice::from_ref(&request), tmp.path()).unwrap();
    let slow = load_speech(&voice, &request).unwrap().len();
    assert!(
        slow + 2 * PAD_SAMPLES.0 > MAX_SAMPLES,
        "not slow enough: {slow}"
    );
    let (samples, kept, fit) = make_clip(&voice, &program, &clip, &request, tmp.path()).unwrap();
    assert_eq!(fit, Fit::Resynthesised);
    assert!(kept < slow && samples.len() <= MAX_SAMPLES);
}
