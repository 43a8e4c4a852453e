//! Hooks on the graph from Rust: leaf hooks see the summed gradient once, post-accumulate and node
//! hooks, callbacks at the end of a backward, saved-tensor hooks, and errors from user code.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustgrad::autograd::node::{record_node, Ctx};
use rustgrad::autograd::saved::{self, PackedTensor, SavedTensorHooks};
use rustgrad::autograd::{current_backward_leaves, queue_callback, Saved};
use rustgrad::{Error, Result, Tensor};

fn t(data: &[f64]) -> Tensor {
    Tensor::from_slice(data, &[data.len()]).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

#[test]
fn a_leaf_used_twice_fires_its_hook_once_with_the_sum() -> Result<()> {
    let w = t(&[1.0, 1.0, 1.0]).requires_grad_(true)?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    w.register_hook(Arc::new(move |g: &Tensor| {
        log.lock().unwrap().push(values(g));
        Ok(None)
    }))?;
    w.mul_scalar(2.0)?
        .add(&w.mul_scalar(3.0)?)?
        .sum()?
        .backward()?;
    assert_eq!(*seen.lock().unwrap(), vec![vec![5.0, 5.0, 5.0]]);
    assert_eq!(values(&w.grad().unwrap()), vec![5.0, 5.0, 5.0]);
    Ok(())
}

#[test]
fn a_leaf_hook_may_replace_the_gradient_and_post_hooks_see_the_result() -> Result<()> {
    let w = t(&[1.0, 2.0]).requires_grad_(true)?;
    w.register_hook(Arc::new(|g: &Tensor| Ok(Some(g.mul_scalar(10.0)?))))?;
    let after = Arc::new(Mutex::new(Vec::new()));
    let log = after.clone();
    w.register_post_accumulate_grad_hook(Arc::new(move |leaf: &Tensor| {
        log.lock().unwrap().push(values(&leaf.grad().unwrap()));
        Ok(())
    }))?;
    w.mul(&w)?.sum()?.backward()?;
    w.mul(&w)?.sum()?.backward()?;
    // 2w * 10, accumulated over two backward calls; the hook runs after each accumulation.
    assert_eq!(
        *after.lock().unwrap(),
        vec![vec![20.0, 40.0], vec![40.0, 80.0]]
    );
    Ok(())
}

#[test]
fn post_accumulate_hooks_only_on_leaves() -> Result<()> {
    let w = t(&[1.0]).requires_grad_(true)?;
    let y = w.mul_scalar(2.0)?;
    let err = y
        .register_post_accumulate_grad_hook(Arc::new(|_: &Tensor| Ok(())))
        .unwrap_err();
    assert!(err.to_string().contains("non-leaf"));
    Ok(())
}

#[test]
fn node_hooks_see_and_replace_gradients() -> Result<()> {
    let x = t(&[1.0, 2.0]).requires_grad_(true)?;
    let y = x.mul_scalar(3.0)?;
    let node = y.grad_fn().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    node.get()?
        .register_pre_hook(Arc::new(move |grad_outputs: &[Option<Tensor>]| {
            log.lock()
                .unwrap()
                .push(values(grad_outputs[0].as_ref().unwrap()));
            Ok(Some(vec![Some(t(&[1.0, -1.0]))]))
        }));
    let log = seen.clone();
    node.get()?.register_post_hook(Arc::new(
        move |grad_inputs: &[Option<Tensor>], _outputs: &[Option<Tensor>]| {
            log.lock()
                .unwrap()
                .push(values(grad_inputs[0].as_ref().unwrap()));
            Ok(None)
        },
    ));
    y.sum()?.backward()?;
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], vec![1.0, 1.0]); // d sum / dy
    assert_eq!(seen[1], vec![3.0, -3.0]); // the rule ran on the replaced gradient
    assert_eq!(values(&x.grad().unwrap()), vec![3.0, -3.0]);
    Ok(())
}

#[test]
fn callbacks_run_after_every_leaf_and_see_the_reached_leaves() -> Result<()> {
    let a = t(&[1.0]).requires_grad_(true)?;
    let b = t(&[2.0]).requires_grad_(true)?;
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let (log, a2, b2) = (order.clone(), a.clone(), b.clone());
    a.register_hook(Arc::new(move |_: &Tensor| {
        let leaves = current_backward_leaves().expect("inside backward");
        let ids: Vec<usize> = leaves.iter().map(Tensor::id).collect();
        assert!(ids.contains(&a2.id()) && ids.contains(&b2.id()) && ids.len() == 2);
        let (later, b3) = (log.clone(), b2.clone());
        queue_callback(Box::new(move || {
            // By now every leaf's .grad is in place.
            later.lock().unwrap().push(format!(
                "callback b.grad={:?}",
                b3.grad().map(|g| values(&g))
            ));
            Ok(())
        }))?;
        log.lock().unwrap().push("hook".into());
        Ok(None)
    }))?;
    a.mul(&b)?.sum()?.backward()?;
    assert_eq!(
        *order.lock().unwrap(),
        vec![
            "hook".to_string(),
            "callback b.grad=Some([1.0])".to_string()
        ]
    );
    assert!(current_backward_leaves().is_none());
    assert!(queue_callback(Box::new(|| Ok(()))).is_err());
    Ok(())
}

/// Packs by doubling and unpacks by halving, counting both.
struct Doubling {
    packed: Arc<AtomicUsize>,
    unpacked: Arc<AtomicUsize>,
}

struct Doubled {
    tensor: Tensor,
    unpacked: Arc<AtomicUsize>,
}

impl SavedTensorHooks for Doubling {
    fn pack(&self, tensor: &Tensor) -> Result<Arc<dyn PackedTensor>> {
        self.packed.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(Doubled {
            tensor: tensor.mul_scalar(2.0)?,
            unpacked: self.unpacked.clone(),
        }))
    }
}

impl PackedTensor for Doubled {
    fn unpack(&self) -> Result<Tensor> {
        self.unpacked.fetch_add(1, Ordering::SeqCst);
        self.tensor.mul_scalar(0.5)
    }
}

#[test]
fn saved_tensor_hooks_pack_and_unpack_every_saved_tensor() -> Result<()> {
    let (packed, unpacked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let x = t(&[1.0, 2.0, 3.0]).requires_grad_(true)?;
    saved::push_hooks(Arc::new(Doubling {
        packed: packed.clone(),
        unpacked: unpacked.clone(),
    }));
    let y = x.mul(&x)?.exp()?.sum()?; // mul saves two tensors, exp its result
    assert!(saved::pop_hooks());
    assert!(!saved::pop_hooks());
    assert_eq!(packed.load(Ordering::SeqCst), 3);
    y.backward()?;
    assert_eq!(unpacked.load(Ordering::SeqCst), 3);
    let expected: Vec<f64> = [1.0f64, 2.0, 3.0]
        .iter()
        .map(|v| 2.0 * v * (v * v).exp())
        .collect();
    for (g, e) in values(&x.grad().unwrap()).iter().zip(expected) {
        assert!((g - e).abs() < 1e-9 * e.abs());
    }
    Ok(())
}

#[derive(Debug)]
struct UserError;
impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raised by user code")
    }
}
impl std::error::Error for UserError {}

#[test]
fn a_custom_node_runs_its_rule_and_its_errors_come_back_unchanged() -> Result<()> {
    let x = t(&[1.0, -2.0]).requires_grad_(true)?;
    let y = rustgrad::no_grad(|| x.abs())?;
    record_node(
        rustgrad::autograd::node::intern_name("MyAbsBackward"),
        &[&x],
        &[&y],
        None,
        vec![Saved::Input(0)],
        Box::new(|ctx: &Ctx<'_>, grads: &[Option<Tensor>]| {
            Ok(vec![Some(
                grads[0].as_ref().unwrap().mul(&ctx.saved(0).sign()?)?,
            )])
        }),
    )?;
    assert_eq!(y.grad_fn().unwrap().get()?.name(), "MyAbsBackward");
    y.sum()?.backward()?;
    assert_eq!(values(&x.grad().unwrap()), vec![1.0, -1.0]);

    let z = rustgrad::no_grad(|| x.abs())?;
    record_node(
        "FailingBackward",
        &[&x],
        &[&z],
        None,
        vec![],
        Box::new(|_: &Ctx<'_>, _: &[Option<Tensor>]| Err(Error::external(UserError))),
    )?;
    match z.sum()?.backward() {
        Err(Error::External(e)) => assert!(e.downcast_ref::<UserError>().is_some()),
        other => panic!("expected the user's error, got {other:?}"),
    }
    Ok(())
}
