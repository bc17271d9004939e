//! Einsum as one general contraction rather than a list of patterns: each operand's labels found
//! by no later operand and not in the output are summed away, then operands are contracted left
//! to right, each pair as one batched matrix product (permute both to `[batch, kept, summed]` and
//! `[batch, summed, kept]`, reshape to rank 3, matmul, reshape back), and the result is permuted
//! to the output's order. Every step is a burn op, so gradients flow to every operand.

use super::Inputs;
use super::shape::transpose;
use crate::error::Result;
use crate::onnx::einsum::{Equation, Label};
use crate::onnx::value::{Float, MAX_RANK, pad_shape};

/// An operand with one label per axis.
struct Labelled {
    x: Float,
    labels: Vec<Label>,
}

impl Labelled {
    fn size(&self, label: Label) -> usize {
        let i = self.labels.iter().position(|&l| l == label);
        i.map_or(1, |i| self.x.dims()[i])
    }

    /// Sums away every label `keep` rejects.
    fn sum_unless(self, keep: impl Fn(Label) -> bool) -> Result<Self> {
        let drop: Vec<usize> = (0..self.labels.len())
            .filter(|&i| !keep(self.labels[i]))
            .collect();
        if drop.is_empty() {
            return Ok(self);
        }
        let rank = self.x.rank();
        let mut t = self.x.t.clone();
        for &i in &drop {
            t = t.sum_dim(MAX_RANK - rank + i);
        }
        let dims = self.x.dims();
        let kept: Vec<usize> = (0..rank).filter(|i| !drop.contains(i)).collect();
        let shape: Vec<usize> = kept.iter().map(|&i| dims[i]).collect();
        Ok(Self {
            x: Float::padded(t, rank).reshape(&shape)?,
            labels: kept.iter().map(|&i| self.labels[i]).collect(),
        })
    }

    /// The operand with its axes in the order of `order` (a permutation of its labels), each
    /// of size 1 broadcast to `sizes` where they differ.
    fn arranged(&self, order: &[Label], sizes: &[usize]) -> Result<Float> {
        let perm: Vec<i64> = order
            .iter()
            .map(|l| self.labels.iter().position(|m| m == l).expect("own label") as i64)
            .collect();
        let x = transpose(&perm, &self.x)?;
        if x.dims() == sizes {
            return Ok(x);
        }
        let t = x.t.clone().expand(pad_shape(sizes)?);
        Ok(Float::padded(t, sizes.len()))
    }
}

/// `a` and `b` contracted, keeping the labels `keep` accepts.
fn contract(
    a: Labelled,
    b: Labelled,
    keep: &dyn Fn(Label) -> bool,
    inputs: &Inputs,
) -> Result<Labelled> {
    let a = a.sum_unless(|l| keep(l) || b.labels.contains(&l))?;
    let b = b.sum_unless(|l| keep(l) || a.labels.contains(&l))?;
    let shared = |l: &Label| b.labels.contains(l);
    let batch: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| shared(l) && keep(*l))
        .collect();
    let summed: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| shared(l) && !keep(*l))
        .collect();
    let a_only: Vec<Label> = a.labels.iter().copied().filter(|l| !shared(l)).collect();
    let b_only: Vec<Label> = b
        .labels
        .iter()
        .copied()
        .filter(|l| !a.labels.contains(l))
        .collect();
    let size = |l: Label| -> Result<usize> {
        let (p, q) = (a.size(l), b.size(l));
        if p == q || p == 1 || q == 1 {
            Ok(p.max(q))
        } else {
            Err(inputs.error(format!(
                "Einsum label '{}' has size {p} in one operand and {q} in another",
                label_name(l)
            )))
        }
    };
    let sizes = |labels: &[Label]| labels.iter().map(|&l| size(l)).collect::<Result<Vec<_>>>();
    let (nb, nm, nk, nn) = (
        sizes(&batch)?,
        sizes(&a_only)?,
        sizes(&summed)?,
        sizes(&b_only)?,
    );
    let prod = |v: &[usize]| v.iter().product::<usize>();
    let mut out_dims = nb.clone();
    out_dims.extend(&nm);
    out_dims.extend(&nn);
    inputs.check_output(1, &out_dims)?;

    let order_a: Vec<Label> = [&batch[..], &a_only, &summed].concat();
    let order_b: Vec<Label> = [&batch[..], &summed, &b_only].concat();
    let (dims_a, dims_b) = (sizes(&order_a)?, sizes(&order_b)?);
    let ma = a
        .arranged(&order_a, &dims_a)?
        .reshape(&[prod(&nb), prod(&nm), prod(&nk)])?
        .get::<3>("Einsum")?;
    let mb = b
        .arranged(&order_b, &dims_b)?
        .reshape(&[prod(&nb), prod(&nk), prod(&nn)])?
        .get::<3>("Einsum")?;
    Ok(Labelled {
        x: Float::new(ma.matmul(mb)).reshape(&out_dims)?,
        labels: [&batch[..], &a_only, &b_only].concat(),
    })
}

fn label_name(l: Label) -> String {
    if l < 128 {
        (l as u8 as char).to_string()
    } else {
        "...".into()
    }
}

pub fn einsum(eq: &Equation, inputs: &Inputs) -> Result<Float> {
    let mut operands = Vec::with_capacity(eq.inputs.len());
    let mut width = 0;
    for (i, term) in eq.inputs.iter().enumerate() {
        let x = inputs.float(i)?.clone();
        let labels = term.labels(x.rank()).ok_or_else(|| {
            inputs.error(format!(
                "Einsum operand {i} of shape {:?} does not fit its term",
                x.dims()
            ))
        })?;
        width = width.max(labels.len() - term.letters.len());
        operands.push(Labelled { x, labels });
    }
    let output = eq
        .output
        .labels(eq.output.letters.len() + width)
        .ok_or_else(|| inputs.error("Einsum output does not fit the operands' ellipsis"))?;
    // Labels later operands or the output still need, after operand `i`.
    let needed = |i: usize, l: Label| {
        output.contains(&l) || operands[i + 1..].iter().any(|o| o.labels.contains(&l))
    };
    let needed: Vec<Vec<Label>> = (0..operands.len())
        .map(|i| {
            let mut all: Vec<Label> = operands[..=i]
                .iter()
                .flat_map(|o| o.labels.clone())
                .collect();
            all.retain(|&l| needed(i, l));
            all
        })
        .collect();
    let mut operands = operands.into_iter();
    let first = operands
        .next()
        .ok_or_else(|| inputs.error("Einsum of no operands"))?;
    let mut acc = first.sum_unless(|l| needed[0].contains(&l))?;
    for (i, b) in operands.enumerate() {
        let keep = &needed[i + 1];
        acc = contract(acc, b, &|l| keep.contains(&l), inputs)?;
    }
    let sizes: Vec<usize> = output.iter().map(|&l| acc.size(l)).collect();
    acc.arranged(&output, &sizes)
}
