#![cfg(feature = "cuda")]
use rustgrad::{DType, Device, Tensor};

#[test]
fn smoke() {
    if !rustgrad::backend::cuda::is_available() {
        eprintln!("skipped: {}", rustgrad::backend::cuda::unavailable_reason());
        return;
    }
    let a = Tensor::from_slice(&[1.0f32, -2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let g = a.to_device(Device::Cuda(0)).unwrap();
    let r = g.relu().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(r, vec![1.0, 0.0, 3.0, 4.0, 5.0, 6.0]);
    let t = g
        .transpose(0, 1)
        .unwrap()
        .contiguous()
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(t, vec![1.0, 4.0, -2.0, 5.0, 3.0, 6.0]);
    let s = g
        .add(&g.transpose(0, 1).unwrap().transpose(0, 1).unwrap())
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(s, vec![2.0, -4.0, 6.0, 8.0, 10.0, 12.0]);
    let z = Tensor::zeros(&[3], DType::I64, Device::Cuda(0))
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    assert_eq!(z, vec![0, 0, 0]);
}
