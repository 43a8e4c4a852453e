"""Every differentiable core op against central finite differences in float64 (issue 2)."""

import pytest

import rustgrad as rg
from rustgrad.autograd import gradcheck, gradgradcheck

from op_testing import r


@pytest.fixture(autouse=True)
def seed():
    rg.manual_seed(1234)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: rg.maximum(a, b),
    "minimum": lambda a, b: rg.minimum(a, b),
    "pow": lambda a, b: a.pow(b),
    "where": lambda a, b: rg.where(a > 0, a, b),
    "add_alpha": lambda a, b: a.add(b, alpha=2.5),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), ())])
def test_binary(name, shapes):
    positive = name in ("pow", "div")
    a, b = r(*shapes[0], positive=positive), r(*shapes[1], positive=positive)
    assert gradcheck(BINARY[name], (a, b))


SCALAR_FORMS = {
    "radd": lambda a: 2.0 + a,
    "rsub": lambda a: 2.0 - a,
    "rmul": lambda a: 3 * a,
    "rdiv": lambda a: 2.0 / a,
    "pow_scalar": lambda a: a ** 3,
    "pow_half": lambda a: a ** 0.5,
    "rpow": lambda a: 2.0 ** a,
    "neg": lambda a: -a,
}


@pytest.mark.parametrize("name", sorted(SCALAR_FORMS))
def test_scalar_forms(name):
    assert gradcheck(SCALAR_FORMS[name], (r(3, 2, positive=True),))


UNARY = {
    "exp": (lambda a: a.exp(), False),
    "log": (lambda a: a.log(), True),
    "sqrt": (lambda a: a.sqrt(), True),
    "rsqrt": (lambda a: a.rsqrt(), True),
    "abs": (lambda a: a.abs(), False),
    "sin": (lambda a: a.sin(), False),
    "cos": (lambda a: a.cos(), False),
    "tanh": (lambda a: a.tanh(), False),
    "sigmoid": (lambda a: a.sigmoid(), False),
    "relu": (lambda a: a.relu(), False),
    "clamp": (lambda a: a.clamp(-0.3, 0.4), False),
    "clamp_min": (lambda a: a.clamp(min=0.1), False),
    "square": (lambda a: a.square(), False),
    "log1p": (lambda a: a.log1p(), True),
    "expm1": (lambda a: a.expm1(), False),
    "reciprocal": (lambda a: a.reciprocal(), True),
    "erf": (lambda a: a.erf(), False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    fn, positive = UNARY[name]
    assert gradcheck(fn, (r(4, 3, positive=positive),))


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "log", "sqrt", "sin"])
def test_unary_double_backward(name):
    fn, positive = UNARY[name]
    assert gradgradcheck(fn, (r(5, positive=positive),))


REDUCTIONS = {
    "sum": lambda a: a.sum(),
    "sum_dim": lambda a: a.sum(1),
    "sum_dims_keepdim": lambda a: a.sum((0, 2), keepdim=True),
    "mean": lambda a: a.mean(),
    "mean_dim": lambda a: a.mean(-1, keepdim=True),
    "var": lambda a: a.var(),
    "var_dim": lambda a: a.var(1, unbiased=False),
    "std": lambda a: a.std(0),
    "max_all": lambda a: a.max(),
    "min_all": lambda a: a.min(),
    "max_dim": lambda a: a.max(1)[0],
    "min_dim_keepdim": lambda a: a.min(2, keepdim=True).values,
    "prod": lambda a: a.prod(1),
    "logsumexp": lambda a: a.logsumexp(1),
    "norm": lambda a: a.norm(),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions(name):
    assert gradcheck(REDUCTIONS[name], (r(2, 3, 4),))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim):
    x = r(3, 4)
    assert gradcheck(lambda a: a.softmax(dim), (x,))
    assert gradcheck(lambda a: a.log_softmax(dim), (x,))
    assert gradgradcheck(lambda a: a.log_softmax(dim), (x,))


@pytest.mark.parametrize(
    "shapes",
    [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2))],
)
def test_matmul(shapes):
    a, b = r(*shapes[0]), r(*shapes[1])
    assert gradcheck(lambda x, y: x @ y, (a, b))


def test_mm_bmm_linear():
    assert gradcheck(lambda x, y: x.mm(y), (r(3, 4), r(4, 2)))
    assert gradcheck(lambda x, y: x.bmm(y), (r(2, 3, 4), r(2, 4, 2)))
    x, w, b = r(5, 4), r(3, 4), r(3)
    assert gradcheck(lambda x, w, b: rg._C.linear(x, w, b), (x, w, b))
    assert gradcheck(lambda x, w: rg._C.linear(x, w), (r(2, 5, 4), w))


VIEWS = {
    "view": lambda a: a.view(4, 6),
    "reshape_copy": lambda a: a.transpose(0, 1).reshape(-1),
    "permute": lambda a: a.permute(2, 0, 1),
    "transpose": lambda a: a.transpose(0, 2),
    "t": lambda a: a[0].t(),
    "expand": lambda a: a[:, :1].expand(2, 5, 4),
    "squeeze_unsqueeze": lambda a: a.unsqueeze(1).squeeze(1),
    "flatten": lambda a: a.flatten(1),
    "narrow": lambda a: a.narrow(2, 1, 2),
    "slice_step": lambda a: a[:, ::2, 1:],
    "select": lambda a: a[1, 2],
    "ellipsis_none": lambda a: a[..., None, 1],
    "index_tensor": lambda a: a[rg.tensor([1, 0, 1])],
    "index_two_tensors": lambda a: a[rg.tensor([0, 1]), :, rg.tensor([3, 2])],
    "index_mask": lambda a: a[a > 0],
    "index_select": lambda a: a.index_select(1, rg.tensor([2, 0, 2])),
    "gather": lambda a: a.gather(2, rg.tensor([[[0, 3], [1, 1], [2, 0]], [[3, 3], [0, 1], [2, 2]]])),
    "contiguous": lambda a: a.transpose(1, 2).contiguous(),
    "clone": lambda a: a.clone(),
    "repeat": lambda a: a[0].repeat(2, 1),
    "flip": lambda a: a.flip(1),
    "split": lambda a: a.split(2, dim=2)[1],
    "chunk": lambda a: a.chunk(3, dim=1)[2],
    "unbind": lambda a: a.unbind(0)[1],
    "masked_fill": lambda a: a.masked_fill(a > 0.5, 0.0),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_and_indexing(name):
    assert gradcheck(VIEWS[name], (r(2, 3, 4),))


def test_cat_and_stack():
    a, b = r(2, 3), r(2, 5)
    assert gradcheck(lambda x, y: rg.cat([x, y], 1), (a, b))
    assert gradcheck(lambda x, y: rg.stack([x, y * 2], 0), (a, r(2, 3)))


def test_scatter_and_scatter_add():
    idx = rg.tensor([[0, 1, 2], [2, 0, 1]])
    assert gradcheck(lambda s, src: s.scatter(1, idx, src), (r(2, 3), r(2, 3)))
    assert gradcheck(lambda s, src: s.scatter_add(1, rg.tensor([[0, 0, 1]]), src), (r(2, 3), r(1, 3)))
    assert gradcheck(lambda s, src: s.index_add(0, rg.tensor([1, 1]), src), (r(3, 2), r(2, 2)))


def test_dtype_conversion_gradient():
    # float32 rounding makes small steps noisy; a larger step keeps the check meaningful.
    assert gradcheck(lambda a: a.float().double() * 1.0, (r(3),), eps=1e-2, atol=1e-3, rtol=1e-3)


def test_inplace_forms():
    a, b = r(3, 4), r(4)

    def f(x, y):
        z = x * 1
        z.add_(y)
        z.mul_(y)
        z.sub_(x)
        z.div_(2.0)
        z.clamp_(-1.0, 1.0)
        return z

    assert gradcheck(f, (a, b))

    def g(x, y):
        z = x * 1
        z[:, 1:3] = y[:2] * 2
        z[0] += 1.0
        return z

    assert gradcheck(g, (a, b))
