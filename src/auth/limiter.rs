//! Login and register attempts per client address, one budget shared by
//! both edges: REST checks it in a middleware around `/auth/*`, gRPC at the
//! top of `Users/Login` and `Users/Register`. Keyed by the peer's IP (a
//! proxy in front should limit by the real client itself). GCRA from
//! `governor`: `burst` at once, then `per_s` a second.
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota};

use crate::problem::{Problem, ProblemKind};

/// Addresses remembered before those whose allowance has fully refilled
/// are forgotten.
const FORGET_ABOVE: usize = 10_000;

pub struct AuthLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

/// An attempt refused by [`AuthLimiter`]: retry in `retry_after_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds, at least 1 (what `Retry-After` and the gRPC
    /// `retry-after` metadata carry).
    pub retry_after_s: u64,
}

impl Limited {
    fn after(wait: Duration) -> Self {
        Limited {
            retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// 429 / RESOURCE_EXHAUSTED.
    pub fn problem(&self) -> Problem {
        Problem::new(
            ProblemKind::RateLimited,
            format!(
                "too many login or register attempts from this address; retry in {} s",
                self.retry_after_s
            ),
        )
    }
}

impl AuthLimiter {
    pub fn new(per_s: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_s).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        AuthLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes one attempt from `ip`'s budget; `Err` when it must wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        if self.limiter.len() > FORGET_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            Limited::after(not_until.wait_time_from(self.limiter.clock().now()))
        })
    }

    /// [`check`](Self::check) for a peer whose address may be unknown:
    /// every such peer shares one budget (a transport that lost the
    /// address limits too much rather than not at all).
    pub fn check_peer(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        self.check(ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_with_a_retry_hint_per_address() {
        let l = AuthLimiter::new(1, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let refused = l.check(a).unwrap_err();
        assert_eq!(refused.retry_after_s, 1);
        assert_eq!(refused.problem().kind, ProblemKind::RateLimited);
        assert!(l.check(b).is_ok(), "another address has its own budget");
        for _ in 0..3 {
            assert!(l.check_peer(None).is_ok());
        }
        assert!(
            l.check_peer(None).is_err(),
            "unknown peers share one budget"
        );
    }
}
