//! Anomaly mode from Rust (its own test binary: the mode is process-wide).

use std::sync::{Arc, Mutex};

use rustgrad::autograd::anomaly;
use rustgrad::{Result, Tensor};

#[test]
fn nan_in_backward_is_an_error_naming_the_node_and_reports_its_trace() -> Result<()> {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let log = reports.clone();
    anomaly::set_trace_provider(|| Some("made here".to_string()));
    anomaly::set_reporter(move |node, trace| log.lock().unwrap().push(format!("{node}: {trace}")));

    let x = Tensor::from_slice(&[-1.0f64, 4.0], &[2])?.requires_grad_(true)?;
    let before = x.sqrt()?.sum()?; // recorded with the mode off: no trace
    anomaly::set_enabled(true, true);
    let during = x.sqrt()?.sum()?;
    let err = during.backward().unwrap_err();
    let err_before = before.backward().unwrap_err();
    anomaly::set_enabled(false, true);

    for e in [err, err_before] {
        assert_eq!(
            e.to_string(),
            "Function 'SqrtBackward0' returned nan values in its 0th output."
        );
    }
    assert_eq!(
        *reports.lock().unwrap(),
        vec!["SqrtBackward0: made here".to_string()]
    );
    // Off again: the NaN flows into .grad.
    x.sqrt()?.sum()?.backward()?;
    assert!(x.grad().unwrap().to_vec::<f64>()?[0].is_nan());
    Ok(())
}
