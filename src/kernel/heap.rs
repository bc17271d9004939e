//! Large host buffers: kept by the allocator between passes, and filled by every worker thread.
//!
//! Why: the host kernels allocate their activations and im2col matrices afresh on every pass
//! (tens of megabytes for a video clip). glibc serves a block that large with a fresh `mmap` and
//! returns it with `munmap` when it is freed, so every pass paid page faults on new memory and TLB
//! shootdowns across the worker threads: 15% of APGD-CE on the 16-frame video CNN went to the
//! kernel's memory management. Raising glibc's mmap and trim thresholds keeps freed blocks in the
//! heap for the next pass. The cost is a process that keeps up to its high-water mark of such
//! buffers instead of handing them back at once. Other platforms' allocators are left as they are.
//!
//! A reused block is no longer zero, so `vec![0.0; n]` becomes one memset on the calling thread
//! while the other cores wait: [`zeroed`] and [`tiled`] write large buffers in parallel, and
//! [`with_scratch`] lends a buffer that is overwritten anyway (an im2col matrix) without clearing
//! it at all.

use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::Once;

/// Blocks up to this size come from the heap (glibc's default starts at 128 KiB and adapts).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the heap's top is returned to the system only beyond this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Buffers shorter than this (floats) are filled on the calling thread.
const PARALLEL_FILL: usize = 1 << 16;
/// Scratch buffers up to this many floats (64 MiB) stay with their thread for the next use.
const KEPT_SCRATCH: usize = 1 << 24;
/// Scratch buffers each thread keeps at most: one per level of nesting a pass uses (a gradient
/// buffer with an im2col matrix inside it, and a worker that picked up another clip meanwhile).
const KEPT_BUFFERS: usize = 4;

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Tunes the process's allocator once for the host kernels' buffers (see the module docs).
pub fn keep_freed_buffers() {
    static TUNED: Once = Once::new();
    TUNED.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's allocation parameters; it is called once, and the
        // values are within the ranges glibc accepts (it ignores the call otherwise).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    });
}

/// `n` zeros, written by the worker threads when `n` is large.
pub fn zeroed(n: usize) -> Vec<f32> {
    if n < PARALLEL_FILL {
        return vec![0.0; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0.0f32, n));
    v
}

/// `rows` copies of `row` one after the other (a bias over every position, channels last),
/// written by the worker threads when the result is large.
pub fn tiled(row: &[f32], rows: usize) -> Vec<f32> {
    let mut v = zeroed(row.len() * rows);
    if row.is_empty() {
        return v;
    }
    // Chunks of whole rows, a few thousand floats each.
    let per_chunk = row.len() * (PARALLEL_FILL / 16 / row.len()).max(1);
    v.par_chunks_mut(per_chunk).for_each(|chunk| {
        for r in chunk.chunks_mut(row.len()) {
            r.copy_from_slice(row);
        }
    });
    v
}

/// Runs `f` on a buffer of `n` floats whose contents are unspecified (whatever an earlier use on
/// this thread left): for callers that write every element before reading it.
///
/// The thread keeps up to [`KEPT_BUFFERS`] buffers of at most 64 MiB for later calls; a call takes
/// the smallest kept one that is long enough (else grows the longest), so nested calls (an
/// im2col matrix inside a gradient buffer) each get their own and keep reusing the same one.
pub fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    if n > KEPT_SCRATCH {
        return f(&mut zeroed(n));
    }
    let kept = SCRATCH.with(|cell| {
        let mut kept = cell.borrow_mut();
        let fitting = (0..kept.len())
            .filter(|&i| kept[i].len() >= n)
            .min_by_key(|&i| kept[i].len());
        let longest = (0..kept.len()).max_by_key(|&i| kept[i].len());
        fitting.or(longest).map(|i| kept.swap_remove(i))
    });
    let mut buffer = match kept {
        Some(b) if b.len() >= n => b,
        _ => zeroed(n),
    };
    let result = f(&mut buffer[..n]);
    SCRATCH.with(|cell| {
        let mut kept = cell.borrow_mut();
        if kept.len() < KEPT_BUFFERS {
            kept.push(buffer);
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_tiled_buffers_have_the_asked_contents() {
        for n in [
            0,
            5,
            PARALLEL_FILL - 1,
            PARALLEL_FILL,
            3 * PARALLEL_FILL + 7,
        ] {
            let z = zeroed(n);
            assert_eq!(z.len(), n);
            assert!(z.iter().all(|&v| v == 0.0));
        }
        let row = [1.0, -2.0, 3.5];
        for rows in [0, 1, 7, PARALLEL_FILL + 3] {
            let t = tiled(&row, rows);
            assert_eq!(t.len(), 3 * rows);
            assert!(t.chunks(3).all(|r| r == row));
        }
        assert!(tiled(&[], 10).is_empty());
    }

    #[test]
    fn scratch_has_the_asked_length_and_nests() {
        with_scratch(10, |outer| {
            assert_eq!(outer.len(), 10);
            outer.fill(7.0);
            // The thread's buffer is lent out: the nested call gets its own.
            with_scratch(4, |inner| {
                assert_eq!(inner.len(), 4);
                inner.fill(1.0);
            });
            assert!(outer.iter().all(|&v| v == 7.0));
        });
        // Both buffers were kept: the same nesting again reuses each (the longer one for the outer
        // call, as it is the only one long enough), which the contents show.
        with_scratch(10, |outer| {
            assert!(outer.iter().all(|&v| v == 7.0));
            with_scratch(4, |inner| assert!(inner.iter().all(|&v| v == 1.0)));
        });
        with_scratch(KEPT_SCRATCH + 1, |big| {
            assert_eq!(big.len(), KEPT_SCRATCH + 1)
        });
    }
}
