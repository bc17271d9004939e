//! Sliding windows with scipy.ndimage's edges, shared by the smoothing defences.
//!
//! ART's `SpatialSmoothing` is `scipy.ndimage.median_filter` with `mode="reflect"`, and the
//! waveform smoothers follow the same convention so that every one of them can be checked against
//! scipy: a window of `size` samples around `i` covers `i - size/2 ..= i + size - 1 - size/2`
//! (an even window reaches one further back than forward), and positions outside the signal read
//! its mirror image about the edge, the edge sample repeated (`d c b a | a b c d | d c b a`).

use crate::error::{Error, Result};
use crate::params::Params;

/// The `window` parameter of a smoothing defence (default 3): at least 2 `units` (samples,
/// pixels), since a window of one changes nothing.
pub(crate) fn take_window(p: &mut Params, units: &str) -> Result<usize> {
    let window: usize = p.take_or("window", 3)?;
    if window < 2 {
        return Err(Error::invalid(
            p.display("window"),
            format!("2 or more {units}, got {window}"),
        ));
    }
    Ok(window)
}

/// The offsets of a window of `size` around its centre, as scipy.ndimage places it.
pub(crate) fn offsets(size: usize) -> std::ops::RangeInclusive<isize> {
    let back = (size / 2) as isize;
    -back..=(size as isize - 1 - back)
}

/// The sample that position `i` of a signal of `n` samples reads under `mode="reflect"`: the
/// half-sample symmetric extension, periodic with period `2n`, so windows longer than the signal
/// work too.
pub(crate) fn reflect(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let m = i.rem_euclid(period) as usize;
    if m < n { m } else { 2 * n - 1 - m }
}

/// The median as scipy.ndimage takes it: the element of rank `len / 2` (for an even count, the
/// upper of the two middle values, not their mean). Reorders `values`.
pub(crate) fn median(values: &mut [f32]) -> f32 {
    let k = values.len() / 2;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_repeats_the_edge_and_wraps_for_long_windows() {
        let read: Vec<usize> = (-4..8).map(|i| reflect(i, 3)).collect();
        assert_eq!(read, [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]);
        assert_eq!(offsets(3), -1..=1);
        assert_eq!(offsets(4), -2..=1);
    }

    #[test]
    fn even_medians_take_the_upper_middle() {
        assert_eq!(median(&mut [5.0, 1.0, 5.0, 1.0]), 5.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
