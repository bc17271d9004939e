//! N-dimensional convolution (1-, 2- and 3-D; groups, strides, dilation, asymmetric zero padding)
//! and its input gradient on host memory, as im2col + one GEMM per example and group.
//!
//! This is the per-op kernel the ONNX interpreter uses on the CPU (`onnx::host_conv`): burn-flex's
//! generic convolution and its backward are several times slower than a GEMM over patches, and a
//! graph's convolutions are where its time goes. Layout is burn's and ONNX's: input
//! `[N, C, *spatial]`, weight `[M, C / groups, *kernel]`, output `[N, M, *out]`, all contiguous.
//! The spatial axes are held as three (a 1-D convolution is one of `[1, 1, L]`) so that one code
//! path serves every rank. Weight gradients are not computed: the interpreter's weights are
//! constants of the file, never tracked.

use super::gemm::{Strided, Threads, gemm_acc};
use rayon::prelude::*;

/// Input channels per group from which a 1-D convolution runs one GEMM per kernel tap rather
/// than one over an im2col matrix: with fewer, each tap's GEMM is too thin to pay for itself
/// (M5's first layer, one channel and 80 taps, is one GEMM over patches).
const TAP_MIN_CHANNELS: usize = 8;

/// One spatial axis of a convolution, as ONNX states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvAxis {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Zeros before and after the input.
    pub pads: (usize, usize),
}

/// The shape of one convolution, checked: every size below is consistent with the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub groups: usize,
    /// Spatial sizes, padded to three axes with leading axes of size 1.
    input: [usize; 3],
    kernel: [usize; 3],
    stride: [usize; 3],
    dilation: [usize; 3],
    pad_begin: [usize; 3],
    pad_end: [usize; 3],
    output: [usize; 3],
}

impl ConvGeometry {
    /// Checks a convolution of `batch` examples of `in_channels` channels into `out_channels`
    /// channels in `groups` groups, over 1 to 3 spatial `axes`.
    pub fn new(
        batch: usize,
        in_channels: usize,
        out_channels: usize,
        groups: usize,
        axes: &[ConvAxis],
    ) -> Result<Self, String> {
        if axes.is_empty() || axes.len() > 3 {
            return Err(format!("{} spatial axes (1 to 3 supported)", axes.len()));
        }
        if groups == 0
            || !in_channels.is_multiple_of(groups)
            || !out_channels.is_multiple_of(groups)
        {
            return Err(format!(
                "{in_channels} input and {out_channels} output channels in {groups} groups"
            ));
        }
        let lead = 3 - axes.len();
        let unit = ConvAxis {
            input: 1,
            kernel: 1,
            stride: 1,
            dilation: 1,
            pads: (0, 0),
        };
        let mut g = Self {
            batch,
            in_channels,
            out_channels,
            groups,
            input: [1; 3],
            kernel: [1; 3],
            stride: [1; 3],
            dilation: [1; 3],
            pad_begin: [0; 3],
            pad_end: [0; 3],
            output: [1; 3],
        };
        for i in 0..3 {
            let a = if i < lead { unit } else { axes[i - lead] };
            if a.kernel == 0 || a.stride == 0 || a.dilation == 0 {
                return Err(format!(
                    "axis {a:?}: kernel, stride and dilation must be positive"
                ));
            }
            let span = (a.kernel - 1)
                .checked_mul(a.dilation)
                .and_then(|s| s.checked_add(1));
            let padded = a
                .input
                .checked_add(a.pads.0)
                .and_then(|p| p.checked_add(a.pads.1));
            let (Some(span), Some(padded)) = (span, padded) else {
                return Err(format!("axis {a:?} overflows"));
            };
            if padded < span {
                return Err(format!(
                    "axis {a:?}: the kernel does not fit the padded input"
                ));
            }
            g.input[i] = a.input;
            g.kernel[i] = a.kernel;
            g.stride[i] = a.stride;
            g.dilation[i] = a.dilation;
            g.pad_begin[i] = a.pads.0;
            g.pad_end[i] = a.pads.1;
            g.output[i] = (padded - span) / a.stride + 1;
        }
        Ok(g)
    }

    /// The output's spatial sizes (as many axes as were given to [`ConvGeometry::new`]).
    pub fn output_spatial(&self, axes: usize) -> Vec<usize> {
        self.output[3 - axes..].to_vec()
    }

    /// The input's spatial sizes (as many axes as were given to [`ConvGeometry::new`]).
    pub fn input_spatial(&self, axes: usize) -> Vec<usize> {
        self.input[3 - axes..].to_vec()
    }

    pub(super) fn in_volume(&self) -> usize {
        self.input.iter().product()
    }

    fn kernel_volume(&self) -> usize {
        self.kernel.iter().product()
    }

    pub(super) fn out_volume(&self) -> usize {
        self.output.iter().product()
    }

    fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Elements of the input `[N, C, *spatial]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_volume()
    }

    /// Elements of the weight `[M, C / groups, *kernel]`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_per_group() * self.kernel_volume()
    }

    /// Elements of the output `[N, M, *out]`.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_volume()
    }

    /// A 1 × 1 × 1 kernel with stride 1 and no padding (the output is as large as the input):
    /// the input already is its im2col matrix.
    fn pointwise(&self) -> bool {
        self.kernel == [1; 3] && self.stride == [1; 3] && self.output == self.input
    }

    /// A one-dimensional convolution with enough input channels per group that each kernel tap
    /// is a worthwhile GEMM of its own: then it runs as one GEMM per tap on a shifted, strided
    /// view of the zero-padded input ([`Self::taps_forward`]), with no im2col matrix (kernel-size
    /// times the input) to fill, read, and in the backward pass scatter back.
    fn by_taps(&self) -> bool {
        self.input[..2] == [1, 1]
            && self.kernel[..2] == [1, 1]
            && self.in_per_group() >= TAP_MIN_CHANNELS
            && !self.pointwise()
    }

    /// A depthwise convolution (one input and one output channel per group, not pointwise): each
    /// output channel is a weighted sum of shifted lines of its own input channel, computed
    /// directly ([`Self::depthwise_forward`]). An im2col matrix and a one-row GEMM per channel
    /// would copy every input value kernel-volume times to multiply it once.
    fn depthwise(&self) -> bool {
        self.in_per_group() == 1 && self.out_per_group() == 1 && !self.pointwise()
    }

    /// `y_grp += Σ_k w_k · shift_k(x_grp)` for one channel of a [`Self::depthwise`] convolution:
    /// `xg` the input channel, `wg` its kernel, `yg` its output channel.
    fn depthwise_forward(&self, xg: &[f32], wg: &[f32], yg: &mut [f32]) {
        self.for_each_run(|k, p, at, len, step| {
            let (wk, dst) = (wg[k], &mut yg[p..p + len]);
            if step == 1 {
                for (y, x) in dst.iter_mut().zip(&xg[at..at + len]) {
                    *y += wk * x;
                }
            } else {
                for (i, y) in dst.iter_mut().enumerate() {
                    *y += wk * xg[at + i * step];
                }
            }
        });
    }

    /// The adjoint of [`Self::depthwise_forward`]: `dx_grp += Σ_k shift_kᵀ(w_k · dy_grp)`.
    fn depthwise_input_grad(&self, wg: &[f32], dyg: &[f32], dxg: &mut [f32]) {
        self.for_each_run(|k, p, at, len, step| {
            let (wk, src) = (wg[k], &dyg[p..p + len]);
            if step == 1 {
                for (dx, dy) in dxg[at..at + len].iter_mut().zip(src) {
                    *dx += wk * dy;
                }
            } else {
                for (i, dy) in src.iter().enumerate() {
                    dxg[at + i * step] += wk * dy;
                }
            }
        });
    }

    /// The one spatial axis of a one-dimensional geometry (its `input`, `kernel`, `stride`,
    /// `dilation` and `pads.0`) and its output length; `None` for 2-D and 3-D geometries.
    pub(super) fn one_axis(&self) -> Option<(ConvAxis, usize)> {
        (self.input[..2] == [1, 1] && self.kernel[..2] == [1, 1]).then(|| {
            let axis = ConvAxis {
                input: self.input[2],
                kernel: self.kernel[2],
                stride: self.stride[2],
                dilation: self.dilation[2],
                pads: (self.pad_begin[2], self.pad_end[2]),
            };
            (axis, self.output[2])
        })
    }

    /// Length of the one spatial axis with its zero padding.
    fn padded_len(&self) -> usize {
        self.pad_begin[2] + self.input[2] + self.pad_end[2]
    }

    /// One group's channels `[C / groups, L]` copied into a zero-padded `[C / groups, padded]`.
    fn padded_group(&self, xg: &[f32]) -> Vec<f32> {
        let (l, lp, at) = (self.input[2], self.padded_len(), self.pad_begin[2]);
        let mut padded = vec![0f32; self.in_per_group() * lp];
        for (row, x) in padded.chunks_mut(lp).zip(xg.chunks(l)) {
            row[at..at + l].copy_from_slice(x);
        }
        padded
    }

    /// Where tap `k` reads the padded group: `[C / groups, out]`, stride-spaced columns.
    fn tap_view(&self, k: usize) -> Strided {
        Strided {
            offset: k * self.dilation[2],
            row_stride: self.padded_len(),
            col_stride: self.stride[2],
        }
    }

    /// Tap `k` of group `grp`'s weights `[M / groups, C / groups]` inside `w` `[M, C / groups, K]`
    /// (`transposed`: as `[C / groups, M / groups]`).
    fn tap_weights(&self, grp: usize, k: usize, transposed: bool) -> Strided {
        let (rows, k_n) = (self.patch_rows(), self.kernel[2]);
        let (row_stride, col_stride) = if transposed { (k_n, rows) } else { (rows, k_n) };
        Strided {
            offset: grp * self.out_per_group() * rows + k,
            row_stride,
            col_stride,
        }
    }

    /// `y_grp += Σ_k W_k · shift_k(pad(x_grp))` for one example's group (see [`Self::by_taps`]).
    fn taps_forward(&self, grp: usize, xg: &[f32], w: &[f32], yn: &mut [f32], threads: Threads) {
        let padded = self.padded_group(xg);
        let ovol = self.out_volume();
        let y_at = Strided::row_major(ovol).at(grp * self.out_per_group() * ovol);
        for k in 0..self.kernel[2] {
            let dims = [self.out_per_group(), self.in_per_group(), ovol];
            let (w_at, x_at) = (self.tap_weights(grp, k, false), self.tap_view(k));
            gemm_acc(yn, y_at, w, w_at, &padded, x_at, dims, threads);
        }
    }

    /// The adjoint of [`Self::taps_forward`]: `dx_grp = unpad(Σ_k shift_kᵀ(W_kᵀ · dy_grp))`.
    fn taps_input_grad(
        &self,
        grp: usize,
        w: &[f32],
        dyn_: &[f32],
        dxg: &mut [f32],
        threads: Threads,
    ) {
        let (l, lp, at) = (self.input[2], self.padded_len(), self.pad_begin[2]);
        let ovol = self.out_volume();
        let dy_at = Strided::row_major(ovol).at(grp * self.out_per_group() * ovol);
        let mut padded = vec![0f32; self.in_per_group() * lp];
        for k in 0..self.kernel[2] {
            let dims = [self.in_per_group(), self.out_per_group(), ovol];
            let (dx_at, w_at) = (self.tap_view(k), self.tap_weights(grp, k, true));
            gemm_acc(&mut padded, dx_at, w, w_at, dyn_, dy_at, dims, threads);
        }
        for (dx, row) in dxg.chunks_mut(l).zip(padded.chunks(lp)) {
            dx.copy_from_slice(&row[at..at + l]);
        }
    }

    /// A zeroed im2col matrix for one group, or nothing where the convolution needs none
    /// (pointwise, depthwise, or one GEMM per tap).
    fn patch_buffer(&self) -> Vec<f32> {
        if self.pointwise() || self.by_taps() || self.depthwise() {
            Vec::new()
        } else {
            vec![0f32; self.patch_rows() * self.out_volume()]
        }
    }

    /// Rows of one group's im2col matrix: `(C / groups) · kernel volume`.
    fn patch_rows(&self) -> usize {
        self.in_per_group() * self.kernel_volume()
    }

    /// Calls `f(row, pos, x, len, x_step)` for every run of the im2col matrix of one group's input
    /// `[C / groups, *spatial]` (`[rows, out volume]`, row `(c, kd, kh, kw)`): the `len` entries
    /// of `row` from output position `pos` on are the input's entries from `x` on, `x_step` apart.
    /// Entries in the padding belong to no run (they are zero).
    pub(super) fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let [_, ih, iw] = self.input;
        let [_, oh, ow] = self.output;
        let (kvol, ivol) = (self.kernel_volume(), self.in_volume());
        let [kd_n, kh_n, kw_n] = self.kernel;
        for c in 0..self.in_per_group() {
            for kd in 0..kd_n {
                let (d_lo, d_hi, d_off) = self.valid(0, kd);
                for kh in 0..kh_n {
                    let (h_lo, h_hi, h_off) = self.valid(1, kh);
                    for kw in 0..kw_n {
                        let (w_lo, w_hi, w_off) = self.valid(2, kw);
                        if w_lo >= w_hi {
                            continue;
                        }
                        let row = c * kvol + (kd * kh_n + kh) * kw_n + kw;
                        for od in d_lo..d_hi {
                            let id = od * self.stride[0] + d_off - self.pad_begin[0];
                            for oh_i in h_lo..h_hi {
                                let ih_i = oh_i * self.stride[1] + h_off - self.pad_begin[1];
                                let pos = (od * oh + oh_i) * ow + w_lo;
                                let x = c * ivol
                                    + (id * ih + ih_i) * iw
                                    + (w_lo * self.stride[2] + w_off - self.pad_begin[2]);
                                f(row, pos, x, w_hi - w_lo, self.stride[2]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The output positions `[lo, hi)` on `axis` whose kernel tap `k` falls inside the input
    /// (not in the padding), and the tap's offset `k · dilation`.
    fn valid(&self, axis: usize, k: usize) -> (usize, usize, usize) {
        let offset = k * self.dilation[axis];
        let (pad, stride) = (self.pad_begin[axis], self.stride[axis]);
        let (input, output) = (self.input[axis], self.output[axis]);
        // position o reads o·stride + offset − pad, which must lie in [0, input)
        let lo = pad.saturating_sub(offset).div_ceil(stride);
        let hi = if input + pad > offset {
            (input + pad - offset).div_ceil(stride).min(output)
        } else {
            0
        };
        (lo.min(hi), hi, offset)
    }

    /// im2col of one group's input `[C / groups, *spatial]` into `cols` `[rows, out volume]`.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        cols.fill(0.0);
        let ovol = self.out_volume();
        self.for_each_run(|row, pos, at, len, step| {
            let col = row * ovol + pos;
            let dst = &mut cols[col..col + len];
            if step == 1 {
                dst.copy_from_slice(&x[at..at + len]);
            } else {
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = x[at + i * step];
                }
            }
        });
    }

    /// The adjoint of [`Self::im2col`]: adds every patch entry back onto its input entry.
    fn col2im(&self, cols: &[f32], dx: &mut [f32]) {
        let ovol = self.out_volume();
        self.for_each_run(|row, pos, at, len, step| {
            let col = row * ovol + pos;
            for (i, v) in cols[col..col + len].iter().enumerate() {
                dx[at + i * step] += v;
            }
        });
    }

    /// Runs `f(example, out_chunk)` over the examples, in parallel when there are at least as many
    /// examples as threads (each GEMM on one thread), else one after another (each GEMM on all).
    fn per_example(
        &self,
        out: &mut [f32],
        chunk: usize,
        f: impl Fn(usize, &mut [f32], Threads) + Sync,
    ) {
        if chunk == 0 {
            return;
        }
        if self.batch >= rayon::current_num_threads() && self.batch > 1 {
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(n, o)| f(n, o, Threads::One));
        } else {
            for (n, o) in out.chunks_mut(chunk).enumerate() {
                f(n, o, Threads::Rayon);
            }
        }
    }
}

/// The convolution `y = conv(x, w) + b`: `x` `[N, C, *spatial]`, `w` `[M, C / groups, *kernel]`,
/// `bias` `[M]`; the output `[N, M, *out]`.
///
/// # Panics
/// When a slice's length is not the geometry's (a bug in the caller).
pub fn conv_forward(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "conv_forward: input length");
    assert_eq!(w.len(), g.weight_len(), "conv_forward: weight length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "conv_forward: bias length");
    }
    let (ovol, ivol) = (g.out_volume(), g.in_volume());
    let (cin_g, cout_g, rows) = (g.in_per_group(), g.out_per_group(), g.patch_rows());
    let mut y = vec![0f32; g.output_len()];
    g.per_example(&mut y, g.out_channels * ovol, |n, yn, threads| {
        if let Some(b) = bias {
            for (o, row) in yn.chunks_mut(ovol).enumerate() {
                row.fill(b[o]);
            }
        }
        let xn = &x[n * g.in_channels * ivol..(n + 1) * g.in_channels * ivol];
        let mut cols = g.patch_buffer();
        for grp in 0..g.groups {
            let xg = &xn[grp * cin_g * ivol..(grp + 1) * cin_g * ivol];
            if g.by_taps() {
                g.taps_forward(grp, xg, w, yn, threads);
                continue;
            }
            if g.depthwise() {
                let wg = &w[grp * rows..(grp + 1) * rows];
                g.depthwise_forward(xg, wg, &mut yn[grp * ovol..(grp + 1) * ovol]);
                continue;
            }
            let (b, b_at) = if g.pointwise() {
                (xg, Strided::row_major(ovol))
            } else {
                g.im2col(xg, &mut cols);
                (&cols[..], Strided::row_major(ovol))
            };
            // y[grp·M/g + o, p] += Σ_r w[grp·M/g + o, r] · cols[r, p]
            gemm_acc(
                yn,
                Strided::row_major(ovol).at(grp * cout_g * ovol),
                w,
                Strided::row_major(rows).at(grp * cout_g * rows),
                b,
                b_at,
                [cout_g, rows, ovol],
                threads,
            );
        }
    });
    y
}

/// The gradient with respect to `x` of [`conv_forward`], given the output's gradient `dy`
/// `[N, M, *out]`: `[N, C, *spatial]`.
///
/// # Panics
/// When a slice's length is not the geometry's (a bug in the caller).
pub fn conv_input_grad(g: &ConvGeometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(w.len(), g.weight_len(), "conv_input_grad: weight length");
    assert_eq!(
        dy.len(),
        g.output_len(),
        "conv_input_grad: output gradient length"
    );
    let (ovol, ivol) = (g.out_volume(), g.in_volume());
    let (cin_g, cout_g, rows) = (g.in_per_group(), g.out_per_group(), g.patch_rows());
    let mut dx = vec![0f32; g.input_len()];
    g.per_example(&mut dx, g.in_channels * ivol, |n, dxn, threads| {
        let dyn_ = &dy[n * g.out_channels * ovol..(n + 1) * g.out_channels * ovol];
        let mut dcols = g.patch_buffer();
        for grp in 0..g.groups {
            if g.by_taps() {
                let dxg = &mut dxn[grp * cin_g * ivol..(grp + 1) * cin_g * ivol];
                g.taps_input_grad(grp, w, dyn_, dxg, threads);
                continue;
            }
            if g.depthwise() {
                let (wg, dyg) = (
                    &w[grp * rows..(grp + 1) * rows],
                    &dyn_[grp * ovol..(grp + 1) * ovol],
                );
                g.depthwise_input_grad(wg, dyg, &mut dxn[grp * ivol..(grp + 1) * ivol]);
                continue;
            }
            // wᵀ of the group, [rows, M/g]: element (r, o) of w's row-major [M/g, rows] block.
            let w_t = Strided {
                offset: grp * cout_g * rows,
                row_stride: 1,
                col_stride: rows,
            };
            let dy_at = Strided::row_major(ovol).at(grp * cout_g * ovol);
            let dxg = &mut dxn[grp * cin_g * ivol..(grp + 1) * cin_g * ivol];
            if g.pointwise() {
                gemm_acc(
                    dxg,
                    Strided::row_major(ovol),
                    w,
                    w_t,
                    dyn_,
                    dy_at,
                    [rows, cout_g, ovol],
                    threads,
                );
            } else {
                dcols.fill(0.0);
                gemm_acc(
                    &mut dcols,
                    Strided::row_major(ovol),
                    w,
                    w_t,
                    dyn_,
                    dy_at,
                    [rows, cout_g, ovol],
                    threads,
                );
                g.col2im(&dcols, dxg);
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, one output entry at a time.
    fn naive(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (cin_g, cout_g) = (g.in_per_group(), g.out_per_group());
        let [id_n, ih_n, iw_n] = g.input;
        let [kd_n, kh_n, kw_n] = g.kernel;
        let [od_n, oh_n, ow_n] = g.output;
        let mut y = vec![0f32; g.output_len()];
        let at = |pos: usize, k: usize, axis: usize| {
            (pos * g.stride[axis] + k * g.dilation[axis]).checked_sub(g.pad_begin[axis])
        };
        for n in 0..g.batch {
            for m in 0..g.out_channels {
                let grp = m / cout_g;
                for (od, oh, ow) in (0..od_n)
                    .flat_map(|d| (0..oh_n).flat_map(move |h| (0..ow_n).map(move |w| (d, h, w))))
                {
                    let mut s = 0.0;
                    for c in 0..cin_g {
                        for (kd, kh, kw) in (0..kd_n).flat_map(|d| {
                            (0..kh_n).flat_map(move |h| (0..kw_n).map(move |w| (d, h, w)))
                        }) {
                            let (Some(d), Some(h), Some(wi)) =
                                (at(od, kd, 0), at(oh, kh, 1), at(ow, kw, 2))
                            else {
                                continue;
                            };
                            if d >= id_n || h >= ih_n || wi >= iw_n {
                                continue;
                            }
                            let ci = grp * cin_g + c;
                            let xv =
                                x[(((n * g.in_channels + ci) * id_n + d) * ih_n + h) * iw_n + wi];
                            let wv = w[(((m * cin_g + c) * kd_n + kd) * kh_n + kh) * kw_n + kw];
                            s += xv * wv;
                        }
                    }
                    y[(((n * g.out_channels + m) * od_n + od) * oh_n + oh) * ow_n + ow] = s;
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn forward_matches_the_definition_and_the_input_gradient_is_its_adjoint() {
        let axis = |input, kernel, stride, dilation, pads| ConvAxis {
            input,
            kernel,
            stride,
            dilation,
            pads,
        };
        let cases = [
            (2, 4, 6, 2, vec![axis(11, 3, 2, 2, (1, 2))]),
            (
                1,
                3,
                3,
                3,
                vec![axis(7, 2, 1, 1, (0, 1)), axis(6, 3, 2, 1, (2, 0))],
            ),
            (
                3,
                2,
                4,
                1,
                vec![axis(5, 1, 1, 1, (0, 0)), axis(4, 1, 1, 1, (0, 0))],
            ),
            (
                1,
                2,
                2,
                2,
                vec![
                    axis(3, 2, 1, 1, (1, 0)),
                    axis(4, 2, 2, 1, (0, 1)),
                    axis(5, 3, 1, 2, (1, 1)),
                ],
            ),
            // One GEMM per tap (8 or more input channels per group, one axis).
            (2, 16, 6, 2, vec![axis(13, 3, 2, 2, (2, 1))]),
            (1, 9, 5, 1, vec![axis(10, 3, 1, 1, (1, 1))]),
            (3, 8, 4, 1, vec![axis(17, 4, 3, 1, (0, 2))]),
            // Depthwise (one input and one output channel per group), 1-, 2- and 3-D.
            (2, 5, 5, 5, vec![axis(12, 5, 2, 2, (3, 1))]),
            (
                1,
                3,
                3,
                3,
                vec![axis(6, 3, 1, 1, (1, 1)), axis(7, 2, 3, 2, (0, 2))],
            ),
            (
                2,
                4,
                4,
                4,
                vec![
                    axis(4, 3, 1, 1, (1, 1)),
                    axis(5, 3, 2, 1, (1, 1)),
                    axis(6, 3, 1, 2, (2, 2)),
                ],
            ),
        ];
        let (mut by_taps, mut depthwise) = (0, 0);
        for (batch, cin, cout, groups, axes) in cases {
            let g = ConvGeometry::new(batch, cin, cout, groups, &axes).expect("a valid geometry");
            by_taps += usize::from(g.by_taps());
            depthwise += usize::from(g.depthwise());
            let x = values(g.input_len(), 1);
            let w = values(g.weight_len(), 2);
            let want = naive(&g, &x, &w);
            let got = conv_forward(&g, &x, &w, None);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
            // ⟨dy, conv(x)⟩ = ⟨conv_input_grad(dy), x⟩ for the linear map x ↦ conv(x, w).
            let dy = values(g.output_len(), 3);
            let dx = conv_input_grad(&g, &w, &dy);
            let lhs: f32 = dy.iter().zip(&got).map(|(a, b)| a * b).sum();
            let rhs: f32 = dx.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
        assert_eq!(by_taps, 3, "the per-tap path is among the cases");
        assert_eq!(depthwise, 5, "the depthwise path is among the cases");
    }

    #[test]
    fn bias_is_added_per_output_channel() {
        let axes = [ConvAxis {
            input: 4,
            kernel: 2,
            stride: 1,
            dilation: 1,
            pads: (0, 0),
        }];
        let g = ConvGeometry::new(1, 1, 2, 1, &axes).expect("a valid geometry");
        let y = conv_forward(
            &g,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 0.0, 0.0, 1.0],
            Some(&[10.0, 20.0]),
        );
        assert_eq!(y, vec![11.0, 12.0, 13.0, 22.0, 23.0, 24.0]);
    }

    #[test]
    fn inconsistent_shapes_are_refused() {
        let ok = ConvAxis {
            input: 4,
            kernel: 3,
            stride: 1,
            dilation: 1,
            pads: (0, 0),
        };
        assert!(ConvGeometry::new(1, 3, 4, 2, &[ok]).is_err());
        assert!(ConvGeometry::new(1, 2, 4, 0, &[ok]).is_err());
        assert!(ConvGeometry::new(1, 2, 4, 1, &[]).is_err());
        let too_big = ConvAxis {
            kernel: 3,
            dilation: 3,
            ..ok
        };
        assert!(ConvGeometry::new(1, 2, 4, 1, &[too_big]).is_err());
        let zero_stride = ConvAxis { stride: 0, ..ok };
        assert!(ConvGeometry::new(1, 2, 4, 1, &[zero_stride]).is_err());
    }
}
