//! One direction of an LSTM layer on host memory, forward and backward through time, for the ONNX
//! interpreter's LSTM op (`onnx::host_lstm`).
//!
//! Why by hand: unrolled onto burn's autodiff an LSTM is about fifteen ops per time step, each
//! on matrices of a few hundred values, so the per-op cost of burn's graph is most of its time (a
//! CRNN's input gradient took 3-4x PyTorch's, docs/benchmarks.md). Here the input projections of
//! all steps are one GEMM, each step is one small GEMM with the recurrent weights and one pass of
//! gate arithmetic, and the backward pass is the same in reverse: the recurrent GEMM with the
//! transposed weights, then one GEMM for the input gradient of every step.
//!
//! Gates are in ONNX's order (input, output, forget, cell: `i, o, f, g`), activations the default
//! sigmoid/tanh, no peepholes: what PyTorch exports.

use super::gemm::{Strided, Threads, gemm_acc, gemm_set};

/// Sizes of one direction's pass: `seq` steps of `batch` rows of `input` values, `hidden` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmShape {
    pub seq: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
}

/// One direction's constants, row-major: `w` `[4H, input]`, `r` `[4H, H]`, `bias` `[4H]` (ONNX's
/// input and recurrent biases summed), initial states `h0` and `c0` `[batch, H]`.
#[derive(Clone, Copy, Debug)]
pub struct LstmWeights<'a> {
    pub w: &'a [f32],
    pub r: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub h0: &'a [f32],
    pub c0: &'a [f32],
}

/// One direction's forward pass: the hidden states of every step, and what its backward pass needs.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmTrace {
    /// `[seq, batch, H]`, indexed by time (a reverse pass fills it from the end).
    pub hidden: Vec<f32>,
    /// The cell state after the last step processed, `[batch, H]`.
    pub last_cell: Vec<f32>,
    /// Activated gates `i, o, f, g`, `[seq, batch, 4H]`.
    gates: Vec<f32>,
    /// Cell states, `[seq, batch, H]`.
    cells: Vec<f32>,
}

impl LstmShape {
    /// The time index of processing step `step`.
    fn time(&self, step: usize, reverse: bool) -> usize {
        if reverse { self.seq - 1 - step } else { step }
    }

    /// The time index processed just before `t`, `None` at the first step.
    fn before(&self, t: usize, reverse: bool) -> Option<usize> {
        if reverse {
            (t + 1 < self.seq).then_some(t + 1)
        } else {
            t.checked_sub(1)
        }
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// The forward pass over `x` `[seq, batch, input]`, backwards in time when `reverse`.
///
/// # Panics
/// When a slice does not hold what `shape` says (a bug in the caller).
pub fn lstm_forward(
    shape: LstmShape,
    weights: &LstmWeights,
    x: &[f32],
    reverse: bool,
) -> LstmTrace {
    let LstmShape {
        seq,
        batch,
        input,
        hidden: h,
    } = shape;
    assert_eq!(x.len(), seq * batch * input, "lstm: input size");
    assert_eq!(weights.h0.len(), batch * h, "lstm: initial hidden state");
    assert_eq!(weights.c0.len(), batch * h, "lstm: initial cell state");
    let rows = seq * batch;
    // Pre-activations of every step: x · Wᵀ (+ bias), then each step adds h · Rᵀ.
    let mut gates = vec![0.0; rows * 4 * h];
    gemm_set(
        &mut gates,
        Strided::row_major(4 * h),
        x,
        Strided::row_major(input),
        weights.w,
        Strided::col_major(input),
        [rows, input, 4 * h],
        Threads::Rayon,
    );
    if let Some(bias) = weights.bias {
        for row in gates.chunks_exact_mut(4 * h) {
            row.iter_mut().zip(bias).for_each(|(g, b)| *g += b);
        }
    }
    let mut hidden = vec![0.0; rows * h];
    let mut cells = vec![0.0; rows * h];
    // the step's new states, copied into `hidden` and `cells` once computed (they read the
    // previous step's from there)
    let (mut h_next, mut c_next) = (vec![0.0; batch * h], vec![0.0; batch * h]);
    for step in 0..seq {
        let t = shape.time(step, reverse);
        let before = shape.before(t, reverse);
        let (h_prev, c_prev): (&[f32], &[f32]) = match before {
            Some(p) => (
                &hidden[p * batch * h..(p + 1) * batch * h],
                &cells[p * batch * h..(p + 1) * batch * h],
            ),
            None => (weights.h0, weights.c0),
        };
        let g = &mut gates[t * batch * 4 * h..(t + 1) * batch * 4 * h];
        gemm_acc(
            g,
            Strided::row_major(4 * h),
            h_prev,
            Strided::row_major(h),
            weights.r,
            Strided::col_major(h),
            [batch, h, 4 * h],
            Threads::One,
        );
        for b in 0..batch {
            let row = &mut g[b * 4 * h..(b + 1) * 4 * h];
            for k in 0..h {
                let i = sigmoid(row[k]);
                let o = sigmoid(row[h + k]);
                let f = sigmoid(row[2 * h + k]);
                let cand = row[3 * h + k].tanh();
                let c = f * c_prev[b * h + k] + i * cand;
                row[k] = i;
                row[h + k] = o;
                row[2 * h + k] = f;
                row[3 * h + k] = cand;
                c_next[b * h + k] = c;
                h_next[b * h + k] = o * c.tanh();
            }
        }
        hidden[t * batch * h..(t + 1) * batch * h].copy_from_slice(&h_next);
        cells[t * batch * h..(t + 1) * batch * h].copy_from_slice(&c_next);
    }
    let last = shape.time(seq.saturating_sub(1), reverse);
    let last_cell = if seq == 0 {
        weights.c0.to_vec()
    } else {
        cells[last * batch * h..(last + 1) * batch * h].to_vec()
    };
    LstmTrace {
        hidden,
        last_cell,
        gates,
        cells,
    }
}

/// The input gradient of one direction, added into `dx` `[seq, batch, input]`, given the
/// gradients of its hidden states `dh` `[seq, batch, H]` (indexed by time) and of its last cell
/// state `dc_last` `[batch, H]`. The states' own gradients are not computed: the interpreter
/// takes them as constants.
///
/// # Panics
/// As [`lstm_forward`].
pub fn lstm_input_grad(
    shape: LstmShape,
    weights: &LstmWeights,
    trace: &LstmTrace,
    reverse: bool,
    dh: &[f32],
    dc_last: &[f32],
    dx: &mut [f32],
) {
    let LstmShape {
        seq,
        batch,
        input,
        hidden: h,
    } = shape;
    assert_eq!(
        dh.len(),
        seq * batch * h,
        "lstm: hidden-state gradient size"
    );
    assert_eq!(dc_last.len(), batch * h, "lstm: cell-state gradient size");
    assert_eq!(dx.len(), seq * batch * input, "lstm: input gradient size");
    // Gradients of the pre-activations of every step, then dx = that · W in one product.
    let mut dgates = vec![0.0; seq * batch * 4 * h];
    // The gradients flowing back from the step processed after this one.
    let mut dh_next = vec![0.0; batch * h];
    let mut dc_next = dc_last.to_vec();
    for step in (0..seq).rev() {
        let t = shape.time(step, reverse);
        let c_prev: &[f32] = match shape.before(t, reverse) {
            Some(p) => &trace.cells[p * batch * h..(p + 1) * batch * h],
            None => weights.c0,
        };
        let gates = &trace.gates[t * batch * 4 * h..(t + 1) * batch * 4 * h];
        let cells = &trace.cells[t * batch * h..(t + 1) * batch * h];
        let dh_t = &dh[t * batch * h..(t + 1) * batch * h];
        let dg = &mut dgates[t * batch * 4 * h..(t + 1) * batch * 4 * h];
        for b in 0..batch {
            let row = &gates[b * 4 * h..(b + 1) * 4 * h];
            let drow = &mut dg[b * 4 * h..(b + 1) * 4 * h];
            for k in 0..h {
                let at = b * h + k;
                let (i, o, f, cand) = (row[k], row[h + k], row[2 * h + k], row[3 * h + k]);
                let tc = cells[at].tanh();
                let dh = dh_t[at] + dh_next[at];
                let dc = dh * o * (1.0 - tc * tc) + dc_next[at];
                drow[k] = dc * cand * i * (1.0 - i);
                drow[h + k] = dh * tc * o * (1.0 - o);
                drow[2 * h + k] = dc * c_prev[at] * f * (1.0 - f);
                drow[3 * h + k] = dc * i * (1.0 - cand * cand);
                dc_next[at] = dc * f;
            }
        }
        // dh of the step before: dgates · R.
        gemm_set(
            &mut dh_next,
            Strided::row_major(h),
            dg,
            Strided::row_major(4 * h),
            weights.r,
            Strided::row_major(h),
            [batch, 4 * h, h],
            Threads::One,
        );
    }
    gemm_acc(
        dx,
        Strided::row_major(input),
        &dgates,
        Strided::row_major(4 * h),
        weights.w,
        Strided::row_major(input),
        [seq * batch, 4 * h, input],
        Threads::Rayon,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1].
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    struct Case {
        shape: LstmShape,
        w: Vec<f32>,
        r: Vec<f32>,
        bias: Vec<f32>,
        h0: Vec<f32>,
        c0: Vec<f32>,
        x: Vec<f32>,
    }

    impl Case {
        fn new(seq: usize, batch: usize, input: usize, hidden: usize) -> Self {
            let shape = LstmShape {
                seq,
                batch,
                input,
                hidden,
            };
            Self {
                shape,
                w: values(4 * hidden * input, 1),
                r: values(4 * hidden * hidden, 2),
                bias: values(4 * hidden, 3),
                h0: values(batch * hidden, 4),
                c0: values(batch * hidden, 5),
                x: values(seq * batch * input, 6),
            }
        }

        fn weights(&self) -> LstmWeights<'_> {
            LstmWeights {
                w: &self.w,
                r: &self.r,
                bias: Some(&self.bias),
                h0: &self.h0,
                c0: &self.c0,
            }
        }
    }

    /// The textbook recurrence, one unit at a time, in f64.
    fn reference(case: &Case, x: &[f32], reverse: bool) -> (Vec<f64>, Vec<f64>) {
        let LstmShape {
            seq,
            batch,
            input,
            hidden: h,
        } = case.shape;
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut hs = vec![0.0; seq * batch * h];
        let mut c_last = vec![0.0; batch * h];
        for b in 0..batch {
            let mut hp: Vec<f64> = case.h0[b * h..(b + 1) * h]
                .iter()
                .map(|&v| v.into())
                .collect();
            let mut cp: Vec<f64> = case.c0[b * h..(b + 1) * h]
                .iter()
                .map(|&v| v.into())
                .collect();
            for step in 0..seq {
                let t = if reverse { seq - 1 - step } else { step };
                let pre = |gate: usize, k: usize| -> f64 {
                    let j = gate * h + k;
                    let mut s = f64::from(case.bias[j]);
                    for m in 0..input {
                        s += f64::from(case.w[j * input + m])
                            * f64::from(x[(t * batch + b) * input + m]);
                    }
                    for (m, hm) in hp.iter().enumerate() {
                        s += f64::from(case.r[j * h + m]) * hm;
                    }
                    s
                };
                let mut hn = vec![0.0; h];
                let mut cn = vec![0.0; h];
                for k in 0..h {
                    let (i, o, f, g) = (
                        sig(pre(0, k)),
                        sig(pre(1, k)),
                        sig(pre(2, k)),
                        pre(3, k).tanh(),
                    );
                    cn[k] = f * cp[k] + i * g;
                    hn[k] = o * cn[k].tanh();
                }
                hs[(t * batch + b) * h..(t * batch + b + 1) * h].copy_from_slice(&hn);
                hp = hn;
                cp = cn;
            }
            c_last[b * h..(b + 1) * h].copy_from_slice(&cp);
        }
        (hs, c_last)
    }

    #[test]
    fn the_forward_pass_follows_the_recurrence_both_ways() {
        let case = Case::new(5, 3, 4, 6);
        for reverse in [false, true] {
            let trace = lstm_forward(case.shape, &case.weights(), &case.x, reverse);
            let (hs, c_last) = reference(&case, &case.x, reverse);
            for (got, want) in trace.hidden.iter().zip(&hs) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
            }
            for (got, want) in trace.last_cell.iter().zip(&c_last) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
    }

    /// The input gradient of `L = Σ a·h + Σ b·c_last` against central differences of the f64
    /// reference.
    #[test]
    fn the_input_gradient_matches_finite_differences_both_ways() {
        let case = Case::new(4, 2, 3, 5);
        let LstmShape {
            seq, batch, hidden, ..
        } = case.shape;
        let dh = values(seq * batch * hidden, 7);
        let dc = values(batch * hidden, 8);
        let loss = |x: &[f32], reverse: bool| -> f64 {
            let (hs, c_last) = reference(&case, x, reverse);
            let a: f64 = hs.iter().zip(&dh).map(|(h, d)| h * f64::from(*d)).sum();
            let b: f64 = c_last.iter().zip(&dc).map(|(c, d)| c * f64::from(*d)).sum();
            a + b
        };
        for reverse in [false, true] {
            let trace = lstm_forward(case.shape, &case.weights(), &case.x, reverse);
            let mut dx = vec![0.0; case.x.len()];
            lstm_input_grad(
                case.shape,
                &case.weights(),
                &trace,
                reverse,
                &dh,
                &dc,
                &mut dx,
            );
            for j in 0..case.x.len() {
                let step = 1e-3;
                let mut up = case.x.clone();
                up[j] += step;
                let mut down = case.x.clone();
                down[j] -= step;
                let want = (loss(&up, reverse) - loss(&down, reverse)) / (2.0 * f64::from(step));
                assert!(
                    (f64::from(dx[j]) - want).abs() < 2e-3 * want.abs().max(1.0),
                    "reverse {reverse}, x[{j}]: {} vs {want}",
                    dx[j]
                );
            }
        }
    }

    #[test]
    fn the_input_gradient_is_added_to_what_dx_holds() {
        let case = Case::new(3, 2, 2, 3);
        let trace = lstm_forward(case.shape, &case.weights(), &case.x, false);
        let dh = values(3 * 2 * 3, 9);
        let dc = vec![0.0; 6];
        let add_into = |dx: &mut [f32]| {
            lstm_input_grad(case.shape, &case.weights(), &trace, false, &dh, &dc, dx);
        };
        let mut once = vec![0.0; case.x.len()];
        add_into(&mut once);
        let mut twice = once.clone();
        add_into(&mut twice);
        for (a, b) in once.iter().zip(&twice) {
            assert!((2.0 * a - b).abs() < 1e-6);
        }
    }
}
