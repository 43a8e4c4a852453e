//! The rustgrad engine from Rust, without Python: tensors, ops, autograd.
//!
//! Fits y = 3x - 1 with gradient descent on two scalar parameters.
//!
//!     cargo run --release --example basics

use rustgrad::{no_grad, DType, Device, Result, Tensor};

fn main() -> Result<()> {
    rustgrad::manual_seed(0);
    let x = Tensor::randn(&[256, 1], DType::F32, Device::Cpu, None)?;
    let noise = Tensor::randn(&[256, 1], DType::F32, Device::Cpu, None)?.mul_scalar(0.01)?;
    let y = x.mul_scalar(3.0)?.sub_scalar(1.0)?.add(&noise)?;

    let w = Tensor::zeros(&[1], DType::F32, Device::Cpu)?.requires_grad_(true)?;
    let b = Tensor::zeros(&[1], DType::F32, Device::Cpu)?.requires_grad_(true)?;
    for step in 0..200 {
        let pred = x.mul(&w)?.add(&b)?;
        let loss = pred.sub(&y)?.square()?.mean()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in [&w, &b] {
                if let Some(g) = p.grad() {
                    p.sub_(&g.mul_scalar(0.1)?)?;
                }
                p.set_grad(None)?;
            }
            Ok(())
        })?;
        if step % 50 == 0 {
            println!("step {step:3}: loss {:.5}", loss.item()?.to_f64());
        }
    }
    println!(
        "w = {:.3}, b = {:.3}",
        w.item()?.to_f64(),
        b.item()?.to_f64()
    );
    Ok(())
}
