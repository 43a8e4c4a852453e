//! The engine from Rust: gradients, graph lifetime and threads.

use rustgrad::autograd::{live_nodes, no_grad};
use rustgrad::{DType, Device, Result, Tensor};

fn t(data: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape).unwrap()
}

#[test]
fn gradients_of_a_small_graph() -> Result<()> {
    let x = t(&[1.0, 2.0, 3.0], &[3]).requires_grad_(true)?;
    let w = t(&[0.5, -1.0, 2.0], &[3]).requires_grad_(true)?;
    let y = x.mul(&w)?.add_scalar(1.0)?.relu()?.sum()?;
    y.backward()?;
    // relu(x*w + 1) = [1.5, 0 (=-1), 7]; d/dx = w where positive.
    assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![0.5, 0.0, 2.0]);
    assert_eq!(w.grad().unwrap().to_vec::<f64>()?, vec![1.0, 0.0, 3.0]);
    Ok(())
}

#[test]
fn broadcast_gradients_sum_back() -> Result<()> {
    let a = Tensor::ones(&[2, 3], DType::F64, Device::Cpu)?.requires_grad_(true)?;
    let b = t(&[1.0, 2.0, 3.0], &[3]).requires_grad_(true)?;
    a.mul(&b)?.sum()?.backward()?;
    assert_eq!(b.grad().unwrap().to_vec::<f64>()?, vec![2.0, 2.0, 2.0]);
    assert_eq!(
        a.grad().unwrap().to_vec::<f64>()?,
        vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    );
    Ok(())
}

#[test]
fn matmul_gradients() -> Result<()> {
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).requires_grad_(true)?;
    let b = t(&[1.0, 0.0, 0.0, 1.0], &[2, 2]).requires_grad_(true)?;
    a.matmul(&b)?.sum()?.backward()?;
    assert_eq!(a.grad().unwrap().to_vec::<f64>()?, vec![1.0, 1.0, 1.0, 1.0]);
    assert_eq!(b.grad().unwrap().to_vec::<f64>()?, vec![4.0, 4.0, 6.0, 6.0]);
    Ok(())
}

#[test]
fn second_backward_without_retain_graph_fails() -> Result<()> {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true)?;
    let y = x.mul(&x)?.sum()?;
    y.backward()?;
    let err = y.backward().unwrap_err().to_string();
    assert!(
        err.starts_with("Trying to backward through the graph a second time"),
        "{err}"
    );
    Ok(())
}

#[test]
fn graph_nodes_are_released() -> Result<()> {
    let before = live_nodes();
    {
        let x = t(&[1.0, 2.0], &[2]).requires_grad_(true)?;
        let y = x.exp()?.mul_scalar(2.0)?.sum()?;
        assert!(live_nodes() >= before + 3);
        y.backward()?;
    }
    // Other tests run in parallel threads; wait for our own nodes only by checking a fresh graph.
    let x = t(&[1.0], &[1]).requires_grad_(true)?;
    let base = live_nodes();
    let y = x.exp()?;
    assert!(live_nodes() > base);
    drop(y);
    assert!(live_nodes() <= base + 64); // other tests' graphs may be alive; ours is gone
    Ok(())
}

#[test]
fn a_long_chain_backwards_and_drops_without_overflow() -> Result<()> {
    let x = t(&[1.0], &[1]).requires_grad_(true)?;
    let mut y = x.clone();
    for _ in 0..200_000 {
        y = y.mul_scalar(1.0)?;
    }
    y.sum()?.backward()?;
    assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![1.0]);
    drop(y);
    Ok(())
}

#[test]
fn threads_accumulate_exactly_into_a_shared_leaf() -> Result<()> {
    let w = Tensor::ones(&[64], DType::F64, Device::Cpu)?.requires_grad_(true)?;
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let w = w.clone();
            std::thread::spawn(move || -> Result<()> {
                for _ in 0..50 {
                    w.mul_scalar((i + 1) as f64)?.sum()?.backward()?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread panicked")?;
    }
    let expected = 50.0 * (1..=8).sum::<i32>() as f64;
    assert!(w
        .grad()
        .unwrap()
        .to_vec::<f64>()?
        .iter()
        .all(|&g| g == expected));
    Ok(())
}

#[test]
fn no_grad_records_nothing() -> Result<()> {
    let x = t(&[1.0], &[1]).requires_grad_(true)?;
    let y = no_grad(|| x.mul_scalar(2.0))?;
    assert!(!y.requires_grad());
    assert!(y.grad_fn().is_none());
    Ok(())
}

#[test]
fn inplace_on_leaf_requiring_grad_fails() -> Result<()> {
    let x = t(&[1.0], &[1]).requires_grad_(true)?;
    let err = x
        .add_scalar(1.0)
        .and_then(|_| x.fill_(2.0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "a leaf Variable that requires grad is being used in an in-place operation."
    );
    Ok(())
}

#[test]
fn modified_saved_tensor_is_detected() -> Result<()> {
    let x = t(&[1.0, 2.0], &[2]).requires_grad_(true)?;
    let y = x.mul_scalar(2.0)?;
    let z = y.sum()?;
    let w = y.mul(&y)?.sum()?;
    y.add_(&Tensor::ones(&[2], DType::F64, Device::Cpu)?)?;
    let err = w.backward().unwrap_err().to_string();
    assert!(err.starts_with("one of the variables needed for gradient computation has been modified by an inplace operation:"), "{err}");
    z.backward()?;
    Ok(())
}
