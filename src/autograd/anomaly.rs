//! Anomaly mode (`autograd.detect_anomaly`): nodes remember the forward traceback that made them,
//! and the engine checks every gradient a node returns for NaN.
//!
//! Off by default and then free: `record` asks for a traceback only while the mode is on. The
//! traceback itself comes from whoever drives the engine (the Python layer installs a provider that
//! formats the Python stack); a plain Rust program gets none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static ENABLED: AtomicBool = AtomicBool::new(false);
static CHECK_NAN: AtomicBool = AtomicBool::new(true);

type TraceProvider = Box<dyn Fn() -> Option<String> + Send + Sync>;
type Reporter = Box<dyn Fn(&str, &str) + Send + Sync>;

static TRACE_PROVIDER: OnceLock<TraceProvider> = OnceLock::new();
static REPORTER: OnceLock<Reporter> = OnceLock::new();

/// Whether anomaly mode is on (process-wide, as in PyTorch).
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether anomaly mode checks backward outputs for NaN.
pub fn check_nan() -> bool {
    CHECK_NAN.load(Ordering::Relaxed)
}

/// Turns anomaly mode on or off; returns the previous `(enabled, check_nan)`.
pub fn set_enabled(enabled: bool, check_nan: bool) -> (bool, bool) {
    (
        ENABLED.swap(enabled, Ordering::Relaxed),
        CHECK_NAN.swap(check_nan, Ordering::Relaxed),
    )
}

/// Installs the function that describes where an op was called from (once per process).
pub fn set_trace_provider(f: impl Fn() -> Option<String> + Send + Sync + 'static) {
    let _ = TRACE_PROVIDER.set(Box::new(f));
}

/// Installs the function told about a node that failed in backward: `(node name, forward trace)`.
pub fn set_reporter(f: impl Fn(&str, &str) + Send + Sync + 'static) {
    let _ = REPORTER.set(Box::new(f));
}

/// The current forward traceback, when anomaly mode is on and a provider is installed.
pub(crate) fn capture_trace() -> Option<String> {
    if !is_enabled() {
        return None;
    }
    TRACE_PROVIDER.get().and_then(|f| f())
}

/// Tells the reporter that `node` failed; `trace` is where the forward made it.
pub(crate) fn report(node: &str, trace: &str) {
    if let Some(f) = REPORTER.get() {
        f(node, trace);
    }
}
