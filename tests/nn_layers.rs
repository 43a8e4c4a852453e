//! The Rust-side layers and SGD: the seed ConvNet built and trained from Rust.

use rustgrad::nn::{functional as F, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential};
use rustgrad::optim::{Sgd, SgdOptions};
use rustgrad::{DType, Device, Result, Tensor};

fn convnet() -> Result<(Sequential, Linear, Linear)> {
    let features = Sequential::new()
        .push(Conv2d::new(1, 32, 3, 1)?)
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Conv2d::new(32, 64, 3, 1)?)
        .push(ReLU)
        .push(MaxPool2d::new(2));
    Ok((
        features,
        Linear::new(64 * 7 * 7, 128, true)?,
        Linear::new(128, 10, true)?,
    ))
}

#[test]
fn linear_initialises_like_pytorch() -> Result<()> {
    rustgrad::manual_seed(0);
    let layer = Linear::new(100, 30, true)?;
    let w = layer.weight.to_vec::<f32>()?;
    let bound = 1.0 / 10.0;
    assert!(w.iter().all(|&v| v.abs() <= bound));
    assert!(w.iter().any(|&v| v.abs() > 0.9 * bound));
    assert_eq!(layer.parameters().len(), 2);
    Ok(())
}

#[test]
fn seed_convnet_trains_from_rust() -> Result<()> {
    rustgrad::manual_seed(1);
    let (features, fc1, fc2) = convnet()?;
    let mut params = features.parameters();
    params.extend(fc1.parameters());
    params.extend(fc2.parameters());
    assert_eq!(params.len(), 8);
    let mut opt = Sgd::new(
        params,
        SgdOptions {
            momentum: 0.9,
            ..SgdOptions::new(0.01)
        },
    )?;
    let x = Tensor::randn(&[8, 1, 28, 28], DType::F32, Device::Cpu, None)?;
    let y = Tensor::randint(0, 10, &[8], DType::I64, Device::Cpu, None)?;
    let mut losses = Vec::new();
    for _ in 0..8 {
        opt.zero_grad();
        let h = features.forward(&x)?.view(&[-1, 64 * 7 * 7])?;
        let logits = fc2.forward(&fc1.forward(&h)?.relu()?)?;
        assert_eq!(logits.shape().as_slice(), &[8, 10]);
        let loss = F::cross_entropy(&logits, &y)?;
        loss.backward()?;
        opt.step()?;
        losses.push(loss.item()?.to_f64());
    }
    assert!(losses[7] < losses[0], "{losses:?}");
    Ok(())
}

#[test]
fn wrong_input_width_is_an_error() -> Result<()> {
    let layer = Linear::new(4, 2, true)?;
    let err = layer
        .forward(&Tensor::zeros(&[3, 5], DType::F32, Device::Cpu)?)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mat1 and mat2 shapes cannot be multiplied (3x5 and 4x2)"
    );
    Ok(())
}
