"""Live parity with PyTorch where it is installed (the stored reference results cover CI)."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def pair(shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape)
    return rg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def close(ours, theirs, tol=1e-10):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


# Every stride and padding but padding="same" with stride 2, which PyTorch refuses: test_conv2d_errors
# checks that we refuse it with PyTorch's message.
@pytest.mark.parametrize("stride,padding", [(s, p) for s in (1, 2) for p in (0, 1, (2, 1), "same", "valid")
                                            if not (p == "same" and s != 1)], ids=str)
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(stride, padding, dilation, groups, bias):
    x, tx = pair((2, 4, 9, 8), 0)
    w, tw = pair((6, 4 // groups, 3, 2), 1)
    b, tb = pair((6,), 2)
    out = F.conv2d(x, w, b if bias else None, stride=stride, padding=padding, dilation=dilation, groups=groups)
    tout = TF.conv2d(tx, tw, tb if bias else None, stride=stride, padding=padding, dilation=dilation, groups=groups)
    close(out, tout)
    g = np.random.default_rng(3).standard_normal(tuple(tout.shape))
    out.backward(rg.tensor(g))
    tout.backward(torch.tensor(g))
    close(x.grad, tx.grad)
    close(w.grad, tw.grad)
    if bias:
        close(b.grad, tb.grad)


def test_conv2d_errors():
    x, w = rg.zeros(8, 3, 28, 28), rg.zeros(32, 1, 3, 3)
    with pytest.raises(RuntimeError) as ours:
        F.conv2d(x, w)
    with pytest.raises(RuntimeError) as theirs:
        TF.conv2d(torch.zeros(8, 3, 28, 28), torch.zeros(32, 1, 3, 3))
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError) as ours:
        F.conv2d(rg.zeros(1, 1, 5, 5), rg.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(RuntimeError) as theirs:
        TF.conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), stride=2, padding="same")
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", [
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False), (3, 3, 0, 1, True),
])
def test_max_pool2d(kernel, stride, padding, dilation, ceil):
    x, tx = pair((2, 3, 11, 10), 4)
    out, idx = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True)
    tout, tidx = TF.max_pool2d(tx, kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True)
    close(out, tout)
    assert idx.tolist() == tidx.tolist()
    out.sum().backward()
    tout.sum().backward()
    close(x.grad, tx.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [-100, 2])
def test_cross_entropy_class_indices(reduction, weighted, smoothing, ignore):
    x, tx = pair((6, 5), 5)
    target = np.array([0, 2, 4, 1, 2, 3])
    wt = np.linspace(0.5, 2.0, 5)
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore)
    out = F.cross_entropy(x, rg.tensor(target), weight=rg.tensor(wt) if weighted else None, **kw)
    tout = TF.cross_entropy(tx, torch.tensor(target), weight=torch.tensor(wt) if weighted else None, **kw)
    close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    close(x.grad, tx.grad)


def test_cross_entropy_probabilities_and_spatial():
    x, tx = pair((2, 4, 3, 3), 6)
    p = np.random.default_rng(7).dirichlet(np.ones(4), size=(2, 3, 3)).transpose(0, 3, 1, 2)
    close(F.cross_entropy(x, rg.tensor(p)), TF.cross_entropy(tx, torch.tensor(p)))
    t = np.random.default_rng(8).integers(0, 4, (2, 3, 3))
    out = F.cross_entropy(x, rg.tensor(t), label_smoothing=0.1)
    tout = TF.cross_entropy(tx, torch.tensor(t), label_smoothing=0.1)
    close(out, tout)
    out.backward()
    tout.backward()
    close(x.grad, tx.grad)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(training):
    x, tx = pair((4, 3, 5, 5), 9)
    w, tw = pair((3,), 10)
    b, tb = pair((3,), 11)
    rm, rv = rg.zeros(3, dtype=rg.float64), rg.ones(3, dtype=rg.float64)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    out = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-5)
    tout = TF.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3, eps=1e-5)
    close(out, tout)
    close(rm, trm)
    close(rv, trv)
    g = np.random.default_rng(12).standard_normal((4, 3, 5, 5))
    out.backward(rg.tensor(g))
    tout.backward(torch.tensor(g))
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        close(ours.grad, theirs.grad, 1e-9)


@pytest.mark.parametrize("opt,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
])
def test_optimizers_follow_pytorch(opt, kw):
    p, tp = pair((5, 3), 13)
    ours = getattr(rg.optim, opt)([p], **kw)
    theirs = getattr(torch.optim, opt)([tp], **kw)
    rng = np.random.default_rng(14)
    for _ in range(6):
        g = rng.standard_normal((5, 3))
        p.grad = rg.tensor(g)
        tp.grad = torch.tensor(g)
        ours.step()
        theirs.step()
        close(p, tp, 1e-12)


def test_seed_mlp_same_numbers_given_same_weights():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((16, 784)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    ours = rg.nn.Sequential(rg.nn.Linear(784, 128), rg.nn.ReLU(), rg.nn.Linear(128, 10))
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            tp.copy_(torch.tensor(p.detach().numpy()))
    opt = rg.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(ours(rg.tensor(x)), rg.tensor(y))
        tloss = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        assert abs(loss.item() - tloss.item()) < 1e-5
