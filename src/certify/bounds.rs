//! The two statistics a smoothing certificate needs: a one-sided lower confidence bound on a
//! binomial proportion, and the standard normal quantile that turns it into a radius.
//!
//! Both come from `statrs` (the inverse regularised incomplete beta function, AS 64 refined by
//! Newton steps, and the inverse error function), checked in the tests against values from scipy.

use statrs::distribution::{Beta, ContinuousCDF, Normal};

/// The one-sided Clopper-Pearson lower bound at level `alpha` on the success probability of a
/// binomial from `successes` out of `trials`: the `alpha` quantile of Beta(k, n − k + 1), or 0 when
/// nothing succeeded. Cohen et al. take it as `proportion_confint(k, n, alpha=2*alpha,
/// method="beta")[0]`, the same number. Exact (never below the nominal coverage), so a certificate
/// built on it fails with probability at most `alpha`.
pub fn clopper_pearson_lower(successes: usize, trials: usize, alpha: f64) -> f64 {
    assert!(successes <= trials && trials > 0, "caller validated counts");
    if successes == 0 {
        return 0.0;
    }
    let (a, b) = (successes as f64, (trials - successes) as f64 + 1.0);
    Beta::new(a, b)
        .expect("positive shape parameters")
        .inverse_cdf(alpha)
}

/// Φ⁻¹(p), the standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scipy.stats.beta.ppf(alpha, k, n - k + 1)` for the counts below (scipy 1.17.1).
    #[test]
    fn lower_bounds_match_scipy() {
        let cases = [
            // (k, n, alpha, scipy)
            (990, 1000, 0.001, 0.976_036_187_155_311_4),
            (500, 1000, 0.001, 0.450_771_053_984_782_34),
            (10_000, 10_000, 0.001, 0.999_309_463_002_589_9),
            (99_000, 100_000, 0.001, 0.988_989_340_377_474_8),
            (1, 100, 0.05, 0.000_512_801_416_262_292_1),
        ];
        for (k, n, alpha, want) in cases {
            let got = clopper_pearson_lower(k, n, alpha);
            assert!(
                (got - want).abs() < 1e-9,
                "k {k} n {n} alpha {alpha}: {got} vs scipy {want}"
            );
        }
        assert_eq!(clopper_pearson_lower(0, 100, 0.001), 0.0);
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
        assert!((normal_quantile(0.999) - 3.090_232_306_167_813).abs() < 1e-9);
        assert!((normal_quantile(0.1) + 1.281_551_565_544_600_4).abs() < 1e-9);
    }
}
