//! A model family, an attack and a defence added from outside the crate, each one item plus one
//! registration, then used by a scenario end to end like the built-in ones: parsed with their own
//! parameters (unknown ones refused), chained, labelled, evaluated, counted.

use avfoil::attack::spec::{self, AttackEntry, AttackSpec, RunSettings};
use avfoil::attack::{ATTACKS, Attack, AttackOutput, Eps, Mask, Norm};
use avfoil::classifier::{Classifier, Preprocessor};
use avfoil::defence::{self, DEFENCES, DefenceEntry, DefenceSpec};
use avfoil::eval::records::{Kind, Record, Results, read_records};
use avfoil::eval::{Options, Shard};
use avfoil::model::weights::write_safetensors;
use avfoil::model::{
    ARCHITECTURES, Architecture, CompiledNetwork, HostTensor, InputConfig, Network,
};
use avfoil::params::{KeyStyle, Param, Params};
use burn::module::{Module, Param as BurnParam};
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// ---- A model family: logits = weight · mean(x) + bias. ----

#[derive(Module, Debug)]
struct MeanLinear {
    weight: BurnParam<Tensor<1>>,
    bias: BurnParam<Tensor<1>>,
}

impl Network for MeanLinear {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mean = x.mean_dim(1);
        mean * self.weight.val().unsqueeze::<2>() + self.bias.val().unsqueeze::<2>()
    }
}

static MEAN_LINEAR: Architecture = Architecture {
    name: "mean-linear",
    about: "logits = weight · mean(x) + bias",
    needs_weights: true,
    check: |_| Ok(()),
    build: |config, files, device| {
        let k = config.classes.len();
        let w = files.weights()?;
        let net = MeanLinear {
            weight: w.param("weight", [k], device)?,
            bias: w.param("bias", [k], device)?,
        };
        Ok(CompiledNetwork::new(net, device))
    },
    export: None,
};

// ---- An attack: every feature moved by ±eps. ----

#[derive(Debug)]
struct ShiftSpec {
    sign: f32,
}

struct Shift {
    eps: Eps,
    sign: f32,
}

static SHIFT: AttackEntry = AttackEntry {
    name: "shift",
    about: "every feature moved by sign · eps",
    params: &[Param {
        key: "sign",
        default: "1",
        about: "1 or -1",
    }],
    parse: |p| {
        let sign: f32 = p.take_or("sign", 1.0)?;
        if sign.abs() != 1.0 {
            return Err(avfoil::Error::invalid(p.display("sign"), "1 or -1"));
        }
        Ok(Box::new(ShiftSpec { sign }))
    },
};

impl AttackSpec for ShiftSpec {
    fn name(&self) -> &'static str {
        "shift"
    }
    fn norm(&self) -> Norm {
        Norm::Inf
    }
    fn iterative(&self) -> bool {
        false
    }
    fn build(&self, run: &RunSettings) -> avfoil::Result<Box<dyn Attack>> {
        run.eps.validate("eps", true)?;
        Ok(Box::new(Shift {
            eps: run.eps.clone(),
            sign: self.sign,
        }))
    }
}

impl Attack for Shift {
    fn name(&self) -> &'static str {
        "shift"
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "eps": self.eps, "sign": self.sign })
    }
    fn targeted(&self) -> bool {
        false
    }
    fn generate(
        &self,
        classifier: &dyn Classifier,
        x: &Tensor<2>,
        _labels: Option<&[usize]>,
        _mask: Option<&Mask>,
    ) -> avfoil::Result<AttackOutput> {
        let [n, _] = x.dims();
        let eps = self.eps.per_example(n, "eps")?;
        // One forward pass, so that the query count has something to count.
        classifier.logits(x.clone())?;
        let mut adv = x.clone() + self.sign * eps[0];
        if let Some((lo, hi)) = classifier.clip() {
            adv = adv.clamp(lo, hi);
        }
        Ok(AttackOutput {
            adversarial: adv,
            success_iteration: vec![None; n],
            eps,
            components: Vec::new(),
        })
    }
}

// ---- A defence: the input scaled by a factor. ----

#[derive(Debug)]
struct GainSpec {
    factor: f32,
}

struct Gain {
    factor: f32,
}

static GAIN: DefenceEntry = DefenceEntry {
    name: "gain",
    about: "the input scaled by a factor",
    params: &[Param {
        key: "factor",
        default: "1",
        about: "the scale",
    }],
    parse: |p| {
        Ok(Box::new(GainSpec {
            factor: p.take_or("factor", 1.0)?,
        }))
    },
};

impl DefenceSpec for GainSpec {
    fn name(&self) -> &'static str {
        "gain"
    }
    fn build(&self, _: &InputConfig) -> avfoil::Result<Box<dyn Preprocessor>> {
        Ok(Box::new(Gain {
            factor: self.factor,
        }))
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "factor": self.factor })
    }
}

impl Preprocessor for Gain {
    fn name(&self) -> &str {
        "gain"
    }
    fn forward(&self, x: Tensor<2>, _: &mut ChaCha8Rng) -> avfoil::Result<Tensor<2>> {
        Ok(x * self.factor)
    }
}

fn register() {
    // Tests in this binary share the registries: register once.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ARCHITECTURES.register(&MEAN_LINEAR).unwrap();
        ATTACKS.register(&SHIFT).unwrap();
        DEFENCES.register(&GAIN).unwrap();
    });
}

fn fsdd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd")
}

/// A `mean-linear` model directory for FSDD's ten digits.
fn model_dir(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let classes: Vec<String> = (0..10).map(|d| format!("\"{d}\"")).collect();
    std::fs::write(
        model.join("model.toml"),
        format!(
            "architecture = \"mean-linear\"\nclasses = [{}]\nweights = \"w.safetensors\"\n\
             [input]\nmodality = \"audio\"\nshape = [1, 8000]\nclip = [-32768.0, 32767.0]\n\
             sample_rate = 8000\n",
            classes.join(", ")
        ),
    )
    .unwrap();
    let mut t = BTreeMap::new();
    let tensor = |data: Vec<f32>| HostTensor {
        shape: vec![10],
        data,
    };
    t.insert(
        "weight".into(),
        tensor((0..10).map(|k| (k as f32 - 4.5) * 0.01).collect()),
    );
    t.insert(
        "bias".into(),
        tensor((0..10).map(|k| (k % 3) as f32 * 0.1).collect()),
    );
    write_safetensors(&model.join("w.safetensors"), &t).unwrap();
    model
}

#[test]
fn a_family_an_attack_and_a_defence_from_outside_run_through_a_scenario() {
    register();
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path());
    let text = format!(
        r#"name = "plugins"
seed = 1
batch_size = 2

[model]
path = "{}"

[dataset]
loader = "fsdd"
root = "{}"
limit = 4

[[attack]]
name = "shift"
sign = -1
eps = [10, 100]

[[attack]]
name = "pgd"
eps = [64]
max_iter = 2

[[defence]]
label = "gain-then-mp3"
chain = [{{ name = "gain", factor = 0.5 }}, {{ name = "mp3", bitrate = 16 }}]

[[defence]]
name = "mp3"
label = "mp3-32k"
bitrate = 32
adaptive = false
"#,
        model.display(),
        fsdd().display()
    );
    let path = tmp.path().join("plugins.toml");
    std::fs::write(&path, &text).unwrap();
    let out = tmp.path().join("out");
    let options = Options {
        out: out.clone(),
        resume: false,
        shard: Shard::default(),
    };
    let device = avfoil::device::parse_device("cpu").unwrap();
    let outcome = avfoil::eval::evaluate(&path, &options, &device, &mut |_, _| {}).unwrap();
    assert_eq!(outcome.summary.examples, 4);
    let (records, _) = read_records(&out.join(Results::FILE)).unwrap();
    let find =
        |config: &str| -> Vec<&Record> { records.iter().filter(|r| r.config == config).collect() };
    // The new attack moved every example by its budget, and was counted (one forward pass).
    for (eps, config) in [(10.0, "shift|10|none"), (100.0, "shift|100|none")] {
        let rows = find(config);
        assert_eq!(rows.len(), 4, "{config}");
        for r in rows {
            assert!((r.linf.unwrap() - eps).abs() < 1e-3, "{r:?}");
            assert_eq!(r.forwards, Some(1.0));
            assert_eq!(r.gradients, Some(0.0));
        }
    }
    // Both defences under their labels: the chain adaptively, the other by transfer only.
    assert_eq!(find("shift|10|gain-then-mp3|adaptive").len(), 4);
    assert_eq!(find("pgd|64|mp3-32k").len(), 4);
    assert!(find("pgd|64|mp3-32k|adaptive").is_empty());
    assert_eq!(find("clean|mp3-32k").len(), 4);
    // PGD's two iterations: two gradients per example, through the chain too.
    for config in ["pgd|64|none", "pgd|64|gain-then-mp3|adaptive"] {
        for r in find(config) {
            assert_eq!((r.kind, r.gradients), (Kind::Attack, Some(2.0)), "{config}");
        }
    }
}

#[test]
fn registered_entries_parse_their_own_parameters_and_names_are_unique() {
    register();
    let mut p = Params::new(KeyStyle::Flag);
    p.insert_assignment("sign=-1").unwrap();
    let shift = spec::parse("shift", &mut p).unwrap();
    assert_eq!(shift.name(), "shift");
    let mut p = Params::new(KeyStyle::Flag);
    p.insert_assignment("max_iter=3").unwrap();
    let e = spec::parse("shift", &mut p).unwrap_err().to_string();
    assert!(e.contains("--max-iter") && e.contains("--sign"), "{e}");
    let mut p = Params::new(KeyStyle::Table);
    p.insert_assignment("factor=2.0").unwrap();
    assert_eq!(defence::parse("gain", &mut p).unwrap().name(), "gain");
    // A second entry under a taken name is refused.
    let e = ATTACKS.register(&SHIFT).unwrap_err().to_string();
    assert!(e.contains("registered already"), "{e}");
    assert!(ARCHITECTURES.register(&MEAN_LINEAR).is_err());
    assert!(ATTACKS.names().contains(&"shift"));
    let e = ATTACKS.find("no-such-attack").err().unwrap().to_string();
    assert!(e.contains("shift") && e.contains("pgd"), "{e}");
}
