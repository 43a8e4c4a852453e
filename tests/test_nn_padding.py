"""The padding layers (Constant/Zero/Reflection/Replication/Circular Pad 1d/2d/3d): values and
gradients against PyTorch, repr, and PyTorch's errors for unsupported ranks."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from nn_parity import check, raises_like

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)

CASES = [  # (class, constructor args, input shape)
    ("ConstantPad1d", (2, 3.5), (2, 3, 4)), ("ConstantPad1d", ((1, 0), -1.0), (3, 4)),
    ("ConstantPad2d", ((1, 2, 0, 1), 0.5), (2, 3, 4)), ("ConstantPad3d", (1, 2.0), (1, 2, 3, 4, 2)),
    ("ConstantPad3d", ((1, 0, 2, 1, 0, 1), 0.0), (2, 3, 2, 2)),
    ("ZeroPad1d", (2,), (2, 3, 4)), ("ZeroPad2d", ((1, 0, 2, 1),), (1, 2, 3, 3)), ("ZeroPad3d", (1,), (2, 2, 2, 2)),
    ("ReflectionPad1d", (2,), (2, 3, 4)), ("ReflectionPad1d", ((3, 1),), (3, 5)),
    ("ReflectionPad2d", ((1, 2, 2, 1),), (2, 3, 4, 5)), ("ReflectionPad2d", (1,), (3, 4, 4)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 4, 3)), ("ReflectionPad3d", ((1, 0, 2, 1, 1, 2),), (2, 4, 3, 3)),
    ("ReplicationPad1d", (3,), (2, 3, 4)), ("ReplicationPad2d", ((2, 0, 1, 3),), (1, 2, 3, 4)),
    ("ReplicationPad3d", (2,), (1, 1, 2, 3, 2)), ("CircularPad1d", (2,), (2, 3, 4)),
    ("CircularPad2d", ((1, 2, 2, 1),), (1, 2, 3, 4)), ("CircularPad3d", (1,), (1, 2, 2, 3, 2)),
    ("CircularPad2d", ((-1, 1, 0, 1),), (2, 3, 4)),
]


@pytest.mark.parametrize("cls, args, shape", CASES)
def test_matches_torch(cls, args, shape):
    m_rg, m_t = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    assert repr(m_rg) == repr(m_t)
    assert m_rg.padding == m_t.padding
    check(torch, m_rg, m_t, RNG.standard_normal(shape))


@pytest.mark.parametrize("cls, args, shape", [
    ("CircularPad2d", (1,), (3, 3)), ("ReflectionPad1d", (1,), (3, 3, 3, 3)), ("ReflectionPad2d", (1,), (3, 3)),
    ("ReplicationPad1d", (1,), (3, 3, 3, 3)), ("ZeroPad2d", (1,), (3,)), ("CircularPad3d", (1,), (2, 3, 3)),
    ("ReflectionPad1d", (4,), (2, 3, 4)),
])
def test_errors_match_torch(cls, args, shape):
    raises_like(torch, lambda: getattr(nn, cls)(*args)(rg.randn(*shape)),
                lambda: getattr(torch.nn, cls)(*args)(torch.randn(*shape)))
