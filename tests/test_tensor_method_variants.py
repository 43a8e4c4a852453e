"""Tensor methods in their many spellings: every in-place variant (``x.name_(...)``) writes the
out-of-place result into ``x`` and returns ``x``, the method forms of the comparison and logical ops,
and the metadata methods (element_size, nbytes, storage_offset...), all against PyTorch."""

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(4)
DOMAINS = {
    "any": RNG.uniform(-2, 2, (3, 4)),
    "unit": RNG.uniform(-0.9, 0.9, (3, 4)),
    "positive": RNG.uniform(0.1, 3, (3, 4)),
    "above_one": RNG.uniform(1.1, 3, (3, 4)),
    "int": RNG.integers(-20, 20, (3, 4)),
    "bool": RNG.uniform(-1, 1, (3, 4)) > 0,
}
OTHER = RNG.uniform(0.5, 2, (3, 4))
OTHER_INT = RNG.integers(1, 9, (3, 4))
BATCH1, BATCH2 = RNG.uniform(-1, 1, (2, 3, 5)), RNG.uniform(-1, 1, (2, 5, 4))

# name of the in-place method: (input domain, arguments made from a tensor constructor)
INPLACE = {
    "abs_": ("any", lambda T: ()),
    "absolute_": ("any", lambda T: ()),
    "acos_": ("unit", lambda T: ()),
    "arccos_": ("unit", lambda T: ()),
    "acosh_": ("above_one", lambda T: ()),
    "arccosh_": ("above_one", lambda T: ()),
    "asin_": ("unit", lambda T: ()),
    "asinh_": ("any", lambda T: ()),
    "arcsinh_": ("any", lambda T: ()),
    "atan_": ("any", lambda T: ()),
    "arctan_": ("any", lambda T: ()),
    "atanh_": ("unit", lambda T: ()),
    "arctanh_": ("unit", lambda T: ()),
    "arctan2_": ("any", lambda T: (T(OTHER),)),
    "cos_": ("any", lambda T: ()),
    "cosh_": ("any", lambda T: ()),
    "exp_": ("any", lambda T: ()),
    "expm1_": ("any", lambda T: ()),
    "log_": ("positive", lambda T: ()),
    "log1p_": ("positive", lambda T: ()),
    "log2_": ("positive", lambda T: ()),
    "sqrt_": ("positive", lambda T: ()),
    "rsqrt_": ("positive", lambda T: ()),
    "reciprocal_": ("positive", lambda T: ()),
    "sigmoid_": ("any", lambda T: ()),
    "tanh_": ("any", lambda T: ()),
    "erf_": ("any", lambda T: ()),
    "ceil_": ("any", lambda T: ()),
    "floor_": ("any", lambda T: ()),
    "trunc_": ("any", lambda T: ()),
    "fix_": ("any", lambda T: ()),
    "frac_": ("any", lambda T: ()),
    "sign_": ("any", lambda T: ()),
    "sgn_": ("any", lambda T: ()),
    "neg_": ("any", lambda T: ()),
    "deg2rad_": ("any", lambda T: ()),
    "rad2deg_": ("any", lambda T: ()),
    "sinc_": ("any", lambda T: ()),
    "logit_": ("unit", lambda T: ()),
    "ldexp_": ("any", lambda T: (T(OTHER_INT),)),
    "heaviside_": ("any", lambda T: (T(OTHER),)),
    "hypot_": ("any", lambda T: (T(OTHER),)),
    "fmod_": ("any", lambda T: (1.5,)),
    "remainder_": ("any", lambda T: (T(OTHER),)),
    "pow_": ("positive", lambda T: (T(OTHER),)),
    "divide_": ("any", lambda T: (T(OTHER),)),
    "true_divide_": ("any", lambda T: (T(OTHER),)),
    "subtract_": ("any", lambda T: (T(OTHER),)),
    "clamp_max_": ("any", lambda T: (0.5,)),
    "clip_": ("any", lambda T: (-0.5, 0.5)),
    "tril_": ("any", lambda T: (1,)),
    "masked_fill_": ("any", lambda T: (T(OTHER > 1), 9.0)),
    "ge_": ("any", lambda T: (T(OTHER),)),
    "gt_": ("any", lambda T: (0.0,)),
    "le_": ("any", lambda T: (0.5,)),
    "lt_": ("any", lambda T: (T(OTHER),)),
    "ne_": ("int", lambda T: (3,)),
    "greater_": ("any", lambda T: (0.0,)),
    "greater_equal_": ("any", lambda T: (T(OTHER),)),
    "less_": ("any", lambda T: (0.0,)),
    "less_equal_": ("any", lambda T: (T(OTHER),)),
    "not_equal_": ("int", lambda T: (T(OTHER_INT),)),
    "logical_not_": ("any", lambda T: ()),
    "logical_or_": ("any", lambda T: (T(OTHER > 1),)),
    "logical_xor_": ("any", lambda T: (T(OTHER > 1),)),
    "bitwise_or_": ("int", lambda T: (T(OTHER_INT),)),
    "bitwise_xor_": ("int", lambda T: (5,)),
    "bitwise_not_": ("int", lambda T: ()),
    "bitwise_left_shift_": ("int", lambda T: (2,)),
    "bitwise_right_shift_": ("int", lambda T: (T(OTHER_INT),)),
    "lcm_": ("int", lambda T: (T(OTHER_INT),)),
    "addbmm_": ("any", lambda T: (T(BATCH1), T(BATCH2))),
}


def _pair(domain):
    data = DOMAINS[domain]
    return rg.tensor(data), torch.tensor(data)


def _close(ours, theirs):
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    tol = 1e-12 if ours.dtype == rg.float64 else 1e-6
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variant_writes_into_self(name):
    domain, args = INPLACE[name]
    ours, theirs = _pair(domain)
    result = getattr(ours, name)(*args(rg.tensor))
    getattr(theirs, name)(*args(torch.tensor))
    assert result is ours
    _close(ours, theirs)
    # The same values as the out-of-place op.
    fresh = rg.tensor(DOMAINS[domain])
    out_of_place = getattr(fresh, name[:-1])(*args(rg.tensor))
    np.testing.assert_array_equal(ours.numpy(), out_of_place.to(ours.dtype).numpy())


METHOD_FORMS = {
    "gt": lambda x, T: x.gt(T(OTHER)),
    "le": lambda x, T: x.le(0.5),
    "ne": lambda x, T: x.ne(T(OTHER)),
    "logical_and": lambda x, T: x.logical_and(T(OTHER > 1)),
    "logical_or": lambda x, T: x.logical_or(T(OTHER > 1)),
    "logical_xor": lambda x, T: x.logical_xor(T(OTHER > 1)),
    "floor_divide": lambda x, T: x.floor_divide(T(OTHER)),
    "true_divide": lambda x, T: x.true_divide(T(OTHER)),
    "masked_select": lambda x, T: x.masked_select(T(OTHER > 1)),
    "clamp_max": lambda x, T: x.clamp_max(0.25),
    "topk": lambda x, T: x.topk(2, 1).values,
    "type_as": lambda x, T: x.type_as(T(OTHER_INT)),
    "view_as": lambda x, T: x.view_as(T(OTHER.reshape(4, 3))),
    "reshape_as": lambda x, T: x.reshape_as(T(OTHER.reshape(2, 6))),
    "expand_as": lambda x, T: x[:1].expand_as(T(OTHER)),
    "unflatten": lambda x, T: x.unflatten(1, (2, 2)),
    "unsafe_split_with_sizes": lambda x, T: x.unsafe_split_with_sizes([1, 3], 1)[1],
    "mT": lambda x, T: x.mT,
    "new_full": lambda x, T: x.new_full((2, 3), 7.0),
    "new_ones": lambda x, T: x.new_ones(2, 2),
    "new_tensor": lambda x, T: x.new_tensor([1, 2]),
}


@pytest.mark.parametrize("name", sorted(METHOD_FORMS))
def test_method_forms_match_pytorch(name):
    ours, theirs = _pair("any")
    _close(METHOD_FORMS[name](ours, rg.tensor), METHOD_FORMS[name](theirs, torch.tensor))


@pytest.mark.parametrize("domain", ["any", "int", "bool"])
def test_metadata_methods_match_pytorch(domain):
    ours, theirs = _pair(domain)
    assert ours.element_size() == theirs.element_size()
    assert ours.itemsize == theirs.itemsize
    assert ours.nbytes == theirs.nbytes
    assert ours.is_cpu == theirs.is_cpu
    assert ours.ndimension() == theirs.ndimension()
    assert ours.nelement() == theirs.nelement()
    assert ours.storage_offset() == theirs.storage_offset()
    assert ours[1:, 2:].storage_offset() == theirs[1:, 2:].storage_offset()
