//! Trains the seed MLP (784-128-10) in pure Rust on synthetic data: ten class prototypes in 784
//! dimensions, samples drawn around them with noise. SGD with momentum.
//!
//!     cargo run --release --example mlp

use rustgrad::nn::{functional as F, Linear, Module, ReLU, Sequential};
use rustgrad::optim::{Sgd, SgdOptions};
use rustgrad::{no_grad, DType, Device, Result, Tensor};

const CLASSES: usize = 10;
const FEATURES: usize = 784;

/// `n` samples: a random class each, its prototype plus Gaussian noise.
fn synthetic(prototypes: &Tensor, n: usize) -> Result<(Tensor, Tensor)> {
    let labels = Tensor::randint(0, CLASSES as i64, &[n], DType::I64, Device::Cpu, None)?;
    let noise = Tensor::randn(&[n, FEATURES], DType::F32, Device::Cpu, None)?;
    let x = prototypes.index_select(0, &labels)?.add(&noise)?;
    Ok((x, labels))
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    let correct = logits
        .argmax(Some(1), false)?
        .eq(labels)?
        .to_dtype(DType::F32)?
        .mean()?;
    Ok(correct.item()?.to_f64())
}

fn main() -> Result<()> {
    rustgrad::manual_seed(0);
    let prototypes =
        Tensor::randn(&[CLASSES, FEATURES], DType::F32, Device::Cpu, None)?.mul_scalar(0.1)?;
    let (train_x, train_y) = synthetic(&prototypes, 4096)?;
    let (test_x, test_y) = synthetic(&prototypes, 1024)?;

    let model = Sequential::new()
        .push(Linear::new(FEATURES, 128, true)?)
        .push(ReLU)
        .push(Linear::new(128, CLASSES, true)?);
    let mut optimizer = Sgd::new(
        model.parameters(),
        SgdOptions {
            momentum: 0.9,
            ..SgdOptions::new(0.01)
        },
    )?;

    let batch = 64;
    for epoch in 1..=5 {
        let perm = Tensor::randperm(4096, DType::I64, Device::Cpu, None)?;
        let mut total = 0.0;
        for b in 0..4096 / batch {
            let idx = perm.narrow(0, (b * batch) as i64, batch)?;
            let (x, y) = (
                train_x.index_select(0, &idx)?,
                train_y.index_select(0, &idx)?,
            );
            optimizer.zero_grad();
            let loss = F::cross_entropy(&model.forward(&x)?, &y)?;
            loss.backward()?;
            optimizer.step()?;
            total += loss.item()?.to_f64();
        }
        let test_acc = no_grad(|| accuracy(&model.forward(&test_x)?, &test_y))?;
        println!(
            "epoch {epoch}: train loss {:.4}, test accuracy {:.1}%",
            total / (4096 / batch) as f64,
            100.0 * test_acc
        );
    }
    Ok(())
}
