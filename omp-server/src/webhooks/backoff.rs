//! The wait between a failing webhook's attempts: doubling from
//! `webhook_retry_min` up to `webhook_retry_max`, with "equal jitter"
//! (half the step fixed, half random) so receivers that fail together do
//! not retry in lock step. Pure: the random draw is an argument.

use std::time::Duration;

/// The wait after the `failures`-th failure in a row (1 = the first),
/// `draw` a uniform random number in `0.0..1.0`.
pub fn delay(failures: u32, min: Duration, max: Duration, draw: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let step = min.saturating_mul(1u32 << exponent).min(max);
    let half = step / 2;
    half + half.mul_f64(draw.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn doubles_from_the_minimum_and_stops_at_the_cap() {
        assert_eq!(delay(1, MIN, MAX, 1.0), MIN);
        assert_eq!(delay(2, MIN, MAX, 1.0), 2 * MIN);
        assert_eq!(delay(4, MIN, MAX, 1.0), 8 * MIN);
        assert_eq!(delay(7, MIN, MAX, 1.0), MAX);
        assert_eq!(delay(u32::MAX, MIN, MAX, 1.0), MAX);
    }

    #[test]
    fn jitter_takes_at_most_half_the_step() {
        assert_eq!(delay(3, MIN, MAX, 0.0), 2 * MIN);
        assert_eq!(delay(3, MIN, MAX, 0.5), 3 * MIN);
        assert_eq!(
            delay(3, MIN, MAX, 7.0),
            4 * MIN,
            "out-of-range draws are clamped"
        );
    }
}
