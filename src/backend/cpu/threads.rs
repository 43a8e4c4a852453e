//! The CPU thread pool: the calling thread plus `n - 1` workers, for fork-join loops.
//!
//! Why not rayon: on the 2-vCPU VM we measure on, waking a sleeping thread costs 50-100 us, and
//! rayon's pool sleeps between jobs; `install` from a Python thread adds a second wake-up. A
//! 64x784x128 product (the MLP's first layer) took 160 us through `rayon::join` against 104 us
//! on one thread. Here the caller works on the job itself and the workers spin for a short
//! while after each job before they sleep, so back-to-back ops of a training step find them
//! awake: the same product split in two takes 60-65 us.
//!
//! Protocol: a job is published by storing its address and then a state word that holds the job
//! generation, an `OPEN` bit and the number of workers inside. A worker enters by incrementing
//! that count while the job is open; parts are handed out by an atomic counter. The caller runs
//! parts until none are left, closes the job and waits only for the workers that entered, so a
//! worker that is asleep (or, after `fork`, gone) never holds the caller up.

use parking_lot::Mutex;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// Elementwise-sized work below this many elements stays on the calling thread. Measured on 2
/// cores, in one process, alternating 4K to 256K: the MLP step is 15-20% faster from 64K down
/// than at 256K (its SGD update of the 100K-element weight goes parallel), flat from 64K to 8K;
/// the ConvNet step is flat within the noise.
pub const PARALLEL_THRESHOLD: usize = 1 << 15;

/// How long a worker waits for the next job, spinning, before it sleeps. A training step's ops
/// follow each other within tens of microseconds; a millisecond covers the gaps of Python code
/// between them and costs little when the process goes idle.
const SPIN: Duration = Duration::from_millis(1);

const OPEN: u64 = 1 << 31;
const INSIDE: u64 = OPEN - 1;

type Part<'a> = dyn Fn(usize) + Sync + 'a;

struct Job {
    /// Lifetime erased: the caller keeps the closure alive until every worker that entered left.
    run: *const Part<'static>,
    parts: usize,
    next: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job {
    /// Runs parts until none are left; a panic is kept for the caller, and stops nobody else.
    fn work(&self) {
        // SAFETY: the closure outlives the job (see `run`).
        let run = unsafe { &*self.run };
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.parts {
                return;
            }
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| run(i))) {
                self.panic.lock().get_or_insert(p);
            }
        }
    }

    /// Runs the parts left on this thread, then re-raises the first panic of any part.
    fn finish(self) {
        self.work();
        if let Some(p) = self.panic.into_inner() {
            resume_unwind(p);
        }
    }
}

/// The closure with its lifetime erased, for `Job::run`.
fn erase(f: &Part<'_>) -> *const Part<'static> {
    // SAFETY: only the lifetime changes; every job ends (all workers out) before its closure.
    unsafe { std::mem::transmute(f) }
}

struct Shared {
    /// generation << 32 | OPEN | workers inside.
    state: AtomicU64,
    job: AtomicPtr<Job>,
    sleeping: Vec<AtomicBool>,
    exit: AtomicBool,
}

impl Shared {
    fn worker_loop(&self, me: usize) {
        let mut seen = self.state.load(Ordering::Acquire) >> 32;
        loop {
            let idle_since = Instant::now();
            let mut spins = 0u32;
            loop {
                if self.exit.load(Ordering::Acquire) {
                    return;
                }
                let state = self.state.load(Ordering::Acquire);
                if state >> 32 != seen {
                    if state & OPEN == 0 {
                        seen = state >> 32;
                        continue;
                    }
                    if self
                        .state
                        .compare_exchange_weak(
                            state,
                            state + 1,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        seen = state >> 32;
                        // SAFETY: the job stays alive while we are counted inside it.
                        unsafe { &*self.job.load(Ordering::Acquire) }.work();
                        self.state.fetch_sub(1, Ordering::Release);
                        break;
                    }
                    continue;
                }
                spins += 1;
                if spins.is_multiple_of(64) && idle_since.elapsed() > SPIN {
                    // Publishers store the state, then read `sleeping`; we store `sleeping`, then
                    // read the state: one of us sees the other (both SeqCst), so no wake-up is lost.
                    self.sleeping[me].store(true, Ordering::SeqCst);
                    if self.state.load(Ordering::SeqCst) >> 32 == seen
                        && !self.exit.load(Ordering::SeqCst)
                    {
                        std::thread::park();
                    }
                    self.sleeping[me].store(false, Ordering::SeqCst);
                    spins = 0;
                    continue;
                }
                std::hint::spin_loop();
            }
        }
    }
}

struct Workers {
    shared: Arc<Shared>,
    /// The workers that started, with their index in `Shared::sleeping`.
    threads: Vec<(usize, Thread)>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    fn start(count: usize) -> Workers {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            sleeping: (0..count).map(|_| AtomicBool::new(false)).collect(),
            exit: AtomicBool::new(false),
        });
        let (mut handles, mut threads) = (Vec::with_capacity(count), Vec::with_capacity(count));
        for me in 0..count {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rustgrad-worker-{me}"))
                .spawn(move || s.worker_loop(me));
            // A worker that cannot be started only means less help: jobs never wait for one.
            if let Ok(h) = spawned {
                handles.push(h);
                threads.push((me, handles[handles.len() - 1].thread().clone()));
            }
        }
        Workers {
            shared,
            threads,
            handles,
        }
    }

    fn run(&self, parts: usize, f: &Part<'_>) {
        let job = Job {
            run: erase(f),
            parts,
            next: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        let s = &*self.shared;
        s.job
            .store(&job as *const Job as *mut Job, Ordering::Relaxed);
        // Generations wrap at 2^32; workers only compare them for equality.
        let generation = (s.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xffff_ffff;
        s.state.store((generation << 32) | OPEN, Ordering::SeqCst);
        // Wake no more sleepers than there are parts for (spinning workers join by themselves).
        let sleepers = self
            .threads
            .iter()
            .filter(|(me, _)| s.sleeping[*me].load(Ordering::SeqCst));
        for (_, t) in sleepers.take(parts - 1) {
            t.unpark();
        }
        job.work();
        s.state.fetch_and(!OPEN, Ordering::AcqRel);
        while s.state.load(Ordering::Acquire) & INSIDE != 0 {
            std::hint::spin_loop();
        }
        // No part is left to run: this re-raises a part's panic.
        job.finish();
    }

    fn stop(self) {
        self.shared.exit.store(true, Ordering::SeqCst);
        for (_, t) in &self.threads {
            t.unpark();
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

struct Pool {
    threads: usize,
    workers: Option<Workers>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    threads: 0,
    workers: None,
});

/// The thread count from `OMP_NUM_THREADS` (as PyTorch reads it), else the CPUs we may use.
fn default_threads() -> usize {
    std::env::var("OMP_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// How many threads parallel loops use (the caller included).
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = default_threads();
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Sets how many threads parallel loops use, at any time; the workers restart with the next job.
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    let mut pool = POOL.lock();
    THREADS.store(n, Ordering::Relaxed);
    if pool.threads != n {
        if let Some(w) = pool.workers.take() {
            w.stop();
        }
        pool.threads = n;
    }
}

/// Runs `f(0)`, ..., `f(parts - 1)` over the pool and returns when all are done. Parts run in
/// any order and on any thread. Runs serially when the pool has one thread, when called from
/// inside a part, or while another thread's job holds the pool. A panic in a part is re-raised
/// here after every part finished.
pub fn parallel_for(parts: usize, f: impl Fn(usize) + Sync) {
    let serial = |f: &(dyn Fn(usize) + Sync)| {
        Job {
            run: erase(f),
            parts,
            next: AtomicUsize::new(0),
            panic: Mutex::new(None),
        }
        .finish()
    };
    if parts <= 1 || num_threads() == 1 {
        return serial(&f);
    }
    let Some(mut pool) = POOL.try_lock() else {
        return serial(&f);
    };
    let threads = num_threads();
    if pool.threads != threads || pool.workers.is_none() {
        if let Some(w) = pool.workers.take() {
            w.stop();
        }
        pool.threads = threads;
        pool.workers = Some(Workers::start(threads - 1));
    }
    match &pool.workers {
        Some(w) => w.run(parts, &f),
        None => serial(&f),
    }
}

/// Calls `f(offset, chunk)` for consecutive `chunk`-element pieces of `data` (the last may be
/// shorter), in parallel: a few runs of consecutive pieces per thread. Small pieces claimed one
/// at a time would interleave the threads' writes within cache lines (2x2 max-pooling of
/// 4096 planes of 14x14, one piece per plane, ran 2-7x slower on two threads than on one).
pub fn par_chunks_mut<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let n = data.len();
    let chunk = chunk.max(1);
    let ptr = SyncPtr(data.as_mut_ptr());
    par_for_each(n.div_ceil(chunk), |i| {
        let start = i * chunk;
        // SAFETY: the pieces are disjoint and inside `data`, which we borrow mutably.
        let piece = unsafe { ptr.slice(start, chunk.min(n - start)) };
        f(start, piece)
    });
}

/// Chunk length for splitting `n` elements over the pool: `n` itself below the threshold, else a
/// few chunks per thread so that uneven progress evens out.
pub fn chunk_len(n: usize) -> usize {
    if n < PARALLEL_THRESHOLD {
        n.max(1)
    } else {
        n.div_ceil(num_threads() * 4).max(PARALLEL_THRESHOLD / 4)
    }
}

/// `par_chunks_mut` with `chunk_len` pieces: on this thread when `data` is small.
pub fn par_split_mut<T: Send>(data: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    if data.len() < PARALLEL_THRESHOLD {
        return f(0, data);
    }
    let chunk = chunk_len(data.len());
    par_chunks_mut(data, chunk, f)
}

/// Calls `f(i)` for every `i` in `0..n`, in parallel, a few contiguous ranges per thread.
pub fn par_for_each(n: usize, f: impl Fn(usize) + Sync) {
    let chunk = n.div_ceil(num_threads() * 4).max(1);
    parallel_for(n.div_ceil(chunk), |c| {
        (c * chunk..n.min((c + 1) * chunk)).for_each(&f)
    });
}

/// `f(0)`, ..., `f(n - 1)` computed in parallel, in order.
pub fn par_map<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    let chunk = n.div_ceil(num_threads() * 4).max(1);
    par_chunks_mut(&mut out, chunk, |start, slots| {
        for (j, slot) in slots.iter_mut().enumerate() {
            *slot = Some(f(start + j));
        }
    });
    out.into_iter().flatten().collect()
}

/// A raw pointer that parallel tasks share, each writing elements no other task writes.
pub(crate) struct SyncPtr<T>(pub *mut T);
// Copy for every `T` (a derive would ask `T: Copy`).
impl<T> Clone for SyncPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SyncPtr<T> {}
// SAFETY: users guarantee that tasks write disjoint elements and that the buffer outlives them.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// The mutable slice `start..start + len` of the shared buffer.
    ///
    /// # Safety
    /// The range must lie inside the buffer, and no other task may access it concurrently.
    pub unsafe fn slice<'a>(self, start: usize, len: usize) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }

    /// The pointer (a method, so that closures capture the whole `Sync` wrapper, not the field).
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// Splits `0..n` into at most `parts` contiguous ranges of near-equal size.
pub fn split_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let base = n / parts;
    let extra = n % parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn ranges_cover_everything_once() {
        assert_eq!(split_ranges(5, 2), vec![0..3, 3..5]);
        assert_eq!(split_ranges(2, 4), vec![0..1, 1..2]);
        assert_eq!(split_ranges(0, 3), vec![0..0]);
        let r = split_ranges(64, 3);
        assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), 64);
        assert_eq!(r.last().unwrap().end, 64);
    }

    #[test]
    fn every_part_runs_once() {
        for parts in [0, 1, 2, 3, 17, 1000] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            parallel_for(parts, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn chunks_cover_the_slice_and_map_keeps_order() {
        let mut v = vec![0usize; 1001];
        par_chunks_mut(&mut v, 64, |start, c| {
            for (j, x) in c.iter_mut().enumerate() {
                *x = start + j;
            }
        });
        assert!(v.iter().enumerate().all(|(i, &x)| i == x));
        assert_eq!(
            par_map(50, |i| i * i),
            (0..50).map(|i| i * i).collect::<Vec<_>>()
        );
    }

    #[test]
    fn nested_and_concurrent_jobs_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..50 {
                        parallel_for(4, |_| {
                            parallel_for(3, |_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            })
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 50 * 4 * 3);
    }

    #[test]
    fn the_pool_resizes_between_jobs() {
        let before = num_threads();
        for n in [3, 1, 2] {
            set_num_threads(n);
            assert_eq!(num_threads(), n);
            let hits = AtomicUsize::new(0);
            parallel_for(64, |_| {
                hits.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(hits.load(Ordering::Relaxed), 64);
        }
        set_num_threads(before);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_after_the_others() {
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            parallel_for(8, |i| {
                if i == 3 {
                    panic!("part 3");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(r.is_err());
        assert_eq!(done.load(Ordering::Relaxed), 7);
        // The pool still works.
        parallel_for(4, |_| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(done.load(Ordering::Relaxed), 11);
    }
}
