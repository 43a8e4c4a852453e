//! Random numbers: a counter-based Philox4x32-10 generator.
//!
//! Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) maps (key, counter)
//! to four 32-bit words with no sequential state, so a block of n numbers can be produced in
//! parallel by any number of threads, or by a GPU kernel, and come out identical. That is why it is
//! written here rather than taken from a crate: the CUDA kernels use the same function and the
//! same counter arithmetic, so `manual_seed` gives the same numbers on every device.
//!
//! Each draw of n values reserves `ceil(n / 4)` counters from the generator's offset.

use std::sync::LazyLock;

use parking_lot::Mutex;

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: four random words for `(key, counter)`.
#[inline]
pub fn philox4x32(key: u64, counter: u64) -> [u32; 4] {
    let mut k0 = key as u32;
    let mut k1 = (key >> 32) as u32;
    let mut c = [counter as u32, (counter >> 32) as u32, 0, 0];
    for _ in 0..10 {
        let p0 = (PHILOX_M0 as u64) * (c[0] as u64);
        let p1 = (PHILOX_M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k0,
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k1,
            p0 as u32,
        ];
        k0 = k0.wrapping_add(PHILOX_W0);
        k1 = k1.wrapping_add(PHILOX_W1);
    }
    c
}

/// Uniform float in [0, 1) from 24 random bits (exactly representable in f32).
#[inline]
pub fn uniform_f32(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform double in [0, 1) from 53 random bits.
#[inline]
pub fn uniform_f64(hi: u32, lo: u32) -> f64 {
    let bits = ((hi as u64) << 32 | lo as u64) >> 11;
    bits as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// A random-number generator: a seed (the Philox key) and an offset (the next unused counter).
#[derive(Clone, Debug)]
pub struct Generator {
    seed: u64,
    offset: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator { seed, offset: 0 }
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn manual_seed(&mut self, seed: u64) {
        self.seed = seed;
        self.offset = 0;
    }
    /// (seed, offset), for `get_state`.
    pub fn state(&self) -> (u64, u64) {
        (self.seed, self.offset)
    }
    pub fn set_state(&mut self, seed: u64, offset: u64) {
        self.seed = seed;
        self.offset = offset;
    }

    /// Reserves counters for `n` values; returns (key, first counter).
    pub fn reserve(&mut self, n: usize) -> (u64, u64) {
        let start = self.offset;
        self.offset = self.offset.wrapping_add((n as u64).div_ceil(4).max(1));
        (self.seed, start)
    }

    /// `n` raw words from a fresh block of counters.
    pub fn next_words(&mut self, n: usize) -> Vec<u32> {
        let (key, start) = self.reserve(n);
        words(key, start, n)
    }

    /// A uniform integer in `0..bound` (bound > 0).
    pub fn next_below(&mut self, bound: u64) -> u64 {
        let w = self.next_words(2);
        ((w[0] as u64) << 32 | w[1] as u64) % bound
    }
}

/// The words `0..n` of the stream starting at counter `start`.
pub fn words(key: u64, start: u64, n: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n);
    let mut counter = start;
    while out.len() < n {
        let block = philox4x32(key, counter);
        let take = (n - out.len()).min(4);
        out.extend_from_slice(&block[..take]);
        counter = counter.wrapping_add(1);
    }
    out
}

/// The process-wide default generator (`rustgrad.manual_seed`).
pub fn default_generator() -> &'static Mutex<Generator> {
    static DEFAULT: LazyLock<Mutex<Generator>> =
        LazyLock::new(|| Mutex::new(Generator::new(67_280_421_310_721)));
    &DEFAULT
}

/// Seeds the default generator.
pub fn manual_seed(seed: u64) {
    default_generator().lock().manual_seed(seed);
}

/// Box-Muller: two uniforms to one standard normal (the cosine branch).
#[inline]
pub fn box_muller(u1: f64, u2: f64) -> f64 {
    let u1 = 1.0 - u1; // (0, 1]: log is finite
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_known_answer() {
        // Random123's known-answer test for philox4x32_10 with counter = 0 and key = 0.
        assert_eq!(
            philox4x32(0, 0),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
    }

    #[test]
    fn streams_are_reproducible_and_disjoint() {
        let mut g = Generator::new(42);
        let a = g.next_words(10);
        let b = g.next_words(10);
        assert_ne!(a, b);
        g.manual_seed(42);
        assert_eq!(g.next_words(10), a);
    }
}
