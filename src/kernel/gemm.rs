//! Matrix products on host memory through the `gemm` crate, behind one bounds-checked entry point.
//!
//! `gemm::gemm` takes raw pointers and strides (19 arguments, `unsafe`). Every host kernel goes
//! through [`gemm_acc`] instead: it states each operand as a slice plus a strided view, checks that
//! every element the product touches lies inside its slice, and only then calls the crate. A wrong
//! stride is then a panic naming the operand, never a read or write out of bounds.

use gemm::{Parallelism, gemm};

/// Where a matrix lies inside a slice: element `(r, c)` is at `offset + r·row_stride + c·col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    pub offset: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Strided {
    /// Row-major rows `row_stride` apart (consecutive columns).
    pub fn row_major(row_stride: usize) -> Self {
        Self {
            offset: 0,
            row_stride,
            col_stride: 1,
        }
    }

    /// Column-major columns `col_stride` apart (consecutive rows): the transpose of a row-major
    /// matrix.
    pub fn col_major(col_stride: usize) -> Self {
        Self {
            offset: 0,
            row_stride: 1,
            col_stride,
        }
    }

    /// The same layout starting `offset` elements later.
    pub fn at(self, offset: usize) -> Self {
        Self { offset, ..self }
    }

    /// Checks that a `rows × cols` matrix in this layout lies inside `len` elements.
    fn check(&self, rows: usize, cols: usize, len: usize, operand: &str) {
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(
            last < len,
            "gemm: {operand} ({rows} × {cols}, {self:?}) reaches element {last} of a slice of {len}"
        );
        assert!(
            isize::try_from(self.row_stride.max(self.col_stride)).is_ok(),
            "gemm: {operand} strides overflow"
        );
    }
}

/// Whether one product may use rayon's threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One thread: for products already run inside a parallel loop.
    One,
    /// All of rayon's threads.
    Rayon,
}

/// `dst [m × n] += a [m × k] · b [k × n]`, each operand a slice and its layout. Nothing happens when
/// a dimension is zero.
///
/// # Panics
/// When an operand's layout reaches outside its slice (a bug in the caller's shapes).
#[allow(clippy::too_many_arguments)]
pub fn gemm_acc(
    dst: &mut [f32],
    dst_at: Strided,
    a: &[f32],
    a_at: Strided,
    b: &[f32],
    b_at: Strided,
    mkn: [usize; 3],
    threads: Threads,
) {
    product(dst, dst_at, a, a_at, b, b_at, mkn, threads, true);
}

/// `dst [m × n] = a [m × k] · b [k × n]`: as [`gemm_acc`], but `dst`'s old values are never read,
/// so it may hold anything (a reused scratch buffer needs no zeroing first).
///
/// # Panics
/// As [`gemm_acc`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_set(
    dst: &mut [f32],
    dst_at: Strided,
    a: &[f32],
    a_at: Strided,
    b: &[f32],
    b_at: Strided,
    [m, k, n]: [usize; 3],
    threads: Threads,
) {
    if k == 0 && m > 0 && n > 0 {
        // An empty sum: the product is zero.
        dst_at.check(m, n, dst.len(), "dst");
        for r in 0..m {
            for c in 0..n {
                dst[dst_at.offset + r * dst_at.row_stride + c * dst_at.col_stride] = 0.0;
            }
        }
        return;
    }
    product(dst, dst_at, a, a_at, b, b_at, [m, k, n], threads, false);
}

/// The one call into the `gemm` crate: `dst = a·b`, plus `dst`'s old values when `accumulate`.
#[allow(clippy::too_many_arguments)]
fn product(
    dst: &mut [f32],
    dst_at: Strided,
    a: &[f32],
    a_at: Strided,
    b: &[f32],
    b_at: Strided,
    [m, k, n]: [usize; 3],
    threads: Threads,
    accumulate: bool,
) {
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    dst_at.check(m, n, dst.len(), "dst");
    a_at.check(m, k, a.len(), "a");
    b_at.check(k, n, b.len(), "b");
    let parallelism = match threads {
        Threads::One => Parallelism::None,
        Threads::Rayon => Parallelism::Rayon(0),
    };
    // SAFETY: the checks above keep every element of the three operands inside its slice, and
    // `dst` is borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(dst_at.offset),
            dst_at.col_stride as isize,
            dst_at.row_stride as isize,
            accumulate,
            a.as_ptr().add(a_at.offset),
            a_at.col_stride as isize,
            a_at.row_stride as isize,
            b.as_ptr().add(b_at.offset),
            b_at.col_stride as isize,
            b_at.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|i| (0..k).map(|j| a[(i / n) * k + j] * b[j * n + i % n]).sum())
            .collect()
    }

    #[test]
    fn row_major_transposed_and_offset_views_agree_with_a_naive_product() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 - 3.0).collect();
        let want = naive(&a, &b, m, k, n);
        let mut dst = vec![1.0f32; m * n];
        let rm = |s| Strided::row_major(s);
        gemm_acc(
            &mut dst,
            rm(n),
            &a,
            rm(k),
            &b,
            rm(n),
            [m, k, n],
            Threads::One,
        );
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - (w + 1.0)).abs() < 1e-4);
        }
        // aᵀ stored row-major as [k × m], read column-major; b behind two padding values.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let padded: Vec<f32> = [0.0, 0.0].iter().chain(&b).copied().collect();
        let mut dst = vec![0.0f32; m * n];
        gemm_acc(
            &mut dst,
            rm(n),
            &at,
            Strided::col_major(m),
            &padded,
            rm(n).at(2),
            [m, k, n],
            Threads::Rayon,
        );
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - w).abs() < 1e-4);
        }
    }

    #[test]
    fn gemm_set_overwrites_whatever_dst_held() {
        let rm = |s| Strided::row_major(s);
        let (a, b) = ([1.0, -2.0, 0.5, 3.0], [2.0, 1.0, -1.0, 4.0]);
        let mut dst = [f32::NAN; 4];
        gemm_set(
            &mut dst,
            rm(2),
            &a,
            rm(2),
            &b,
            rm(2),
            [2, 2, 2],
            Threads::One,
        );
        assert_eq!(dst, [4.0, -7.0, -2.0, 12.5]);
        // An empty sum is zero, not the old contents.
        let mut dst = [f32::NAN; 4];
        gemm_set(
            &mut dst,
            rm(2),
            &[],
            rm(0),
            &[],
            rm(2),
            [2, 0, 2],
            Threads::One,
        );
        assert_eq!(dst, [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "gemm: b")]
    fn an_operand_past_its_slice_panics_before_any_access() {
        let mut dst = vec![0.0f32; 4];
        let rm = Strided::row_major(2);
        gemm_acc(
            &mut dst,
            rm,
            &[1.0; 4],
            rm,
            &[1.0; 3],
            rm,
            [2, 2, 2],
            Threads::One,
        );
    }
}
