//! [`Sharded`]: one copy of a driver's per-event data per callback-gate shard.
//!
//! A kauth listener runs on every CPU at once; data it writes on every event (counters) must not
//! be one cache line all CPUs write. A `Sharded<T>` holds one `T` per gate shard, each on its own
//! 128-byte lines; a listener writes the copy of the shard its callback runs in
//! ([`FileOpEvent::shard`](crate::kauth::FileOpEvent::shard)), a reader sums them all.

use crate::gate::{ShardData, DEFAULT_SHARDS};

/// The gate shard a callback runs in (a thread-key hash; threads that collide share a shard,
/// correctly as long as every update is an atomic read-modify-write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardIndex(usize);

impl ShardIndex {
    /// Shard `index` (taken modulo the shard count where used).
    pub const fn new(index: usize) -> ShardIndex {
        ShardIndex(index)
    }

    /// Its number.
    pub const fn get(self) -> usize {
        self.0
    }
}

#[repr(align(128))]
struct Line<T>(T);

/// One `T` per shard, each on its own cache lines. See the module documentation.
pub struct Sharded<T, const N: usize = DEFAULT_SHARDS> {
    shards: [Line<T>; N],
}

impl<T: ShardData, const N: usize> Sharded<T, N> {
    const SHARDS_ARE_A_POWER_OF_TWO: () = assert!(N.is_power_of_two());

    /// Every copy zeroed.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let () = Self::SHARDS_ARE_A_POWER_OF_TWO;
        Sharded { shards: [const { Line(T::ZERO) }; N] }
    }

    /// Every copy zeroed.
    #[cfg(loom)]
    pub fn new() -> Self {
        let () = Self::SHARDS_ARE_A_POWER_OF_TWO;
        Sharded { shards: core::array::from_fn(|_| Line(T::zero())) }
    }

    /// The copy of `shard`.
    #[inline]
    #[allow(clippy::indexing_slicing)] // masked below N, a power of two: in bounds, no panic path
    pub fn get(&self, shard: ShardIndex) -> &T {
        &self.shards[shard.0 & (N - 1)].0
    }

    /// Every copy, in shard order (to sum them).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|line| &line.0)
    }
}

impl<T: ShardData, const N: usize> Default for Sharded<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    struct Count(AtomicU64);
    impl ShardData for Count {
        const ZERO: Count = Count(AtomicU64::new(0));
    }

    #[test]
    fn each_shard_has_its_own_lines_and_indices_wrap() {
        let s: Sharded<Count, 4> = Sharded::new();
        s.get(ShardIndex::new(1)).0.fetch_add(1, Ordering::Relaxed);
        s.get(ShardIndex::new(5)).0.fetch_add(1, Ordering::Relaxed);
        let counts: std::vec::Vec<u64> = s.iter().map(|c| c.0.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [0, 2, 0, 0]);
        assert_eq!(core::mem::size_of::<Sharded<Count, 4>>(), 4 * 128);
    }
}
