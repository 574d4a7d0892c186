//! Per-key rate limits: a token bucket.

use hull_errors::{Error, Result};

/// A limit like `50/s`: a burst of up to `per_second` calls, refilled continuously.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Calls allowed per second (also the burst size).
    pub per_second: f64,
}

/// The highest rate a key may be given (beyond it the limit means nothing on one machine).
pub const MAX_RATE_PER_SECOND: f64 = 100_000.0;

impl RateLimit {
    /// Parses `N/s`, `N/m` or `N/h`.
    pub fn parse(text: &str) -> Result<RateLimit> {
        let invalid = || Error::bad_request("InvalidRateLimit", format!("Invalid --rate '{text}': use N/s, N/m or N/h, e.g. 50/s."));
        let (count, unit) = text.split_once('/').ok_or_else(invalid)?;
        let count: f64 = count.parse().map_err(|_| invalid())?;
        let seconds = match unit {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        let per_second = count / seconds;
        if !(per_second > 0.0 && per_second <= MAX_RATE_PER_SECOND) || count.fract() != 0.0 {
            return Err(invalid());
        }
        Ok(RateLimit { per_second })
    }
}

/// A token bucket for one key.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    available: f64,
    last_refill: f64,
}

impl RateLimiter {
    /// A full bucket at time `now` (seconds, any monotonic origin).
    pub fn new(limit: RateLimit, now: f64) -> RateLimiter {
        RateLimiter { limit, available: limit.per_second.max(1.0), last_refill: now }
    }

    /// Takes one call's allowance at `now`, or says how many seconds until one is available.
    pub fn try_acquire(&mut self, now: f64) -> std::result::Result<(), f64> {
        let capacity = self.limit.per_second.max(1.0);
        let elapsed = (now - self.last_refill).max(0.0);
        self.available = (self.available + elapsed * self.limit.per_second).min(capacity);
        self.last_refill = now;
        if self.available >= 1.0 {
            self.available -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.available) / self.limit.per_second)
        }
    }
}
