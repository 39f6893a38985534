//! Admission at accept time: the global connection cap, the per-IP cap and
//! the per-IP new-connection rate. Decided before any byte is read, so a
//! refusal costs a map lookup.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tetsuo_proto::rate::TokenBucket;

/// Why a connection was turned away; also the `reason` label of the
/// refusal metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds `max_connections` already.
    MaxConnections,
    /// This client IP holds `max_connections_per_ip` already.
    MaxPerIp,
    /// This client IP opened connections faster than its rate.
    RateLimited,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::MaxPerIp => "max_connections_per_ip",
            Refusal::RateLimited => "rate_limited",
        }
    }
}

/// Per-IP bookkeeping.
struct PerIp {
    open: usize,
    bucket: Option<TokenBucket>,
}

/// Entries past which idle per-IP records are swept.
const SWEEP_AT: usize = 4096;

pub(crate) struct Gate {
    max_total: usize,
    max_per_ip: usize,
    /// New connections per second per IP, and the burst.
    rate: Option<(f64, u32)>,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, PerIp>>,
}

impl Gate {
    /// Zero means unlimited for each limit.
    pub(crate) fn new(max_total: usize, max_per_ip: usize, rate: Option<(f64, u32)>) -> Gate {
        Gate {
            max_total,
            max_per_ip,
            rate,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a connection from `ip` (none for Unix sockets) at `now`.
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Permit, Refusal> {
        let total = self.open.fetch_add(1, Ordering::AcqRel);
        let mut permit = Permit {
            gate: self.clone(),
            ip: None,
        };
        if self.max_total != 0 && total >= self.max_total {
            return Err(Refusal::MaxConnections);
        }
        let Some(ip) = ip else {
            return Ok(permit);
        };
        if self.max_per_ip == 0 && self.rate.is_none() {
            return Ok(permit);
        }
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT && !map.contains_key(&ip) {
            map.retain(|_, e| e.open > 0 || e.bucket.as_mut().is_some_and(|b| !b.is_full(now)));
        }
        let entry = map.entry(ip).or_insert_with(|| PerIp {
            open: 0,
            bucket: self
                .rate
                .map(|(rate, burst)| TokenBucket::new(rate, burst, now)),
        });
        if self.max_per_ip != 0 && entry.open >= self.max_per_ip {
            return Err(Refusal::MaxPerIp);
        }
        if let Some(bucket) = &mut entry.bucket
            && !bucket.try_take(now)
        {
            return Err(Refusal::RateLimited);
        }
        entry.open += 1;
        permit.ip = Some(ip);
        Ok(permit)
    }

    fn release(&self, ip: Option<IpAddr>) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        let Some(ip) = ip else { return };
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&ip) {
            entry.open = entry.open.saturating_sub(1);
            let forgettable = entry.open == 0
                && entry
                    .bucket
                    .as_mut()
                    .is_none_or(|b| b.is_full(Instant::now()));
            if forgettable {
                map.remove(&ip);
            }
        }
    }
}

/// A connection's place in the counts; dropping it gives the place back.
pub(crate) struct Permit {
    gate: Arc<Gate>,
    ip: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn caps_connections_per_ip_and_in_total() {
        let gate = Arc::new(Gate::new(3, 2, None));
        let now = Instant::now();
        let a1 = gate.admit(ip(1), now).unwrap();
        let _a2 = gate.admit(ip(1), now).unwrap();
        assert_eq!(gate.admit(ip(1), now).err(), Some(Refusal::MaxPerIp));
        let _b1 = gate.admit(ip(2), now).unwrap();
        assert_eq!(gate.admit(ip(3), now).err(), Some(Refusal::MaxConnections));
        drop(a1);
        assert_eq!(gate.open(), 3 - 1);
        let _a3 = gate.admit(ip(1), now).unwrap();
    }

    #[test]
    fn limits_the_rate_of_new_connections_per_ip() {
        let gate = Arc::new(Gate::new(0, 0, Some((1.0, 2))));
        let now = Instant::now();
        // (Permits are held: releasing consults the real clock.)
        let _a = gate.admit(ip(1), now).unwrap();
        let _b = gate.admit(ip(1), now).unwrap();
        assert_eq!(gate.admit(ip(1), now).err(), Some(Refusal::RateLimited));
        // Another IP has its own bucket.
        let _c = gate.admit(ip(2), now).unwrap();
        let _d = gate.admit(ip(1), now + Duration::from_secs(1)).unwrap();
        // Refusals give their place back.
        assert_eq!(gate.open(), 4);
    }
}
