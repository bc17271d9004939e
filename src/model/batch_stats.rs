//! Batch-norm statistics gathered in training mode, shared by every model avfoil trains: PyTorch's
//! running-average update and the end-of-training re-estimate over the whole training set.

/// One block's batch statistics from a training-mode pass: per-channel mean and unbiased variance
/// (what PyTorch folds into its running statistics).
#[derive(Clone, Debug)]
pub struct BatchStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// PyTorch's running-statistics update: `(1 − m)·running + m·batch`, block by block.
pub fn blend(running: Vec<BatchStats>, batch: Vec<BatchStats>, m: f32) -> Vec<BatchStats> {
    let mix = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(a, b)| (1.0 - m) * a + m * b)
            .collect()
    };
    running
        .iter()
        .zip(&batch)
        .map(|(r, b)| BatchStats {
            mean: mix(&r.mean, &b.mean),
            var: mix(&r.var, &b.var),
        })
        .collect()
}

/// The plain average of several batches' statistics (PyTorch's `momentum=None`), summed in order
/// and then divided; `None` when there are no batches.
pub fn average(batches: impl IntoIterator<Item = Vec<BatchStats>>) -> Option<Vec<BatchStats>> {
    let mut count = 0usize;
    let mut sums: Option<Vec<BatchStats>> = None;
    for stats in batches {
        count += 1;
        sums = Some(match sums {
            None => stats,
            Some(acc) => acc
                .into_iter()
                .zip(stats)
                .map(|(a, s)| BatchStats {
                    mean: a.mean.iter().zip(&s.mean).map(|(x, y)| x + y).collect(),
                    var: a.var.iter().zip(&s.var).map(|(x, y)| x + y).collect(),
                })
                .collect(),
        });
    }
    let k = count as f32;
    sums.map(|sums| {
        sums.into_iter()
            .map(|s| BatchStats {
                mean: s.mean.iter().map(|v| v / k).collect(),
                var: s.var.iter().map(|v| v / k).collect(),
            })
            .collect()
    })
}
