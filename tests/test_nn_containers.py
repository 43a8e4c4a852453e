"""ParameterList, ParameterDict, the deprecated Container and nn.Buffer: registration,
state_dict keys, list/dict behaviour and repr against PyTorch."""

import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn

torch = pytest.importorskip("torch")


def _repr_body(module):
    """The repr without the dtype names, which differ between the libraries."""
    return repr(module).replace("rustgrad.", "torch.")


def test_parameter_list():
    pl = nn.ParameterList([nn.Parameter(rg.ones(2)), rg.zeros(3)])
    ref = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3)])
    assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad
    assert list(pl.state_dict()) == list(ref.state_dict()) == ["0", "1"]
    assert _repr_body(pl) == repr(ref)
    pl.append(rg.ones(4))
    pl.extend([rg.ones(1), rg.ones(5)])
    pl += [rg.ones(6)]
    assert len(pl) == 6 and [p.shape[0] for p in pl] == [2, 3, 4, 1, 5, 6]
    assert pl[-1].shape == (6,) and isinstance(pl[1:3], nn.ParameterList) and len(pl[1:3]) == 2
    pl[0] = rg.full((2,), 7.0)
    assert pl[0].tolist() == [7.0, 7.0] and isinstance(pl[0], nn.Parameter)
    with pytest.raises(IndexError, match="index 9 is out of range"):
        pl[9]
    pl.append("not a tensor")
    assert pl[6] == "not a tensor" and len(list(pl.parameters())) == 6

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([rg.ones(2, 2), rg.ones(2)])

    assert list(Net().state_dict()) == ["ws.0", "ws.1"]
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        nn.ParameterList()()


def test_parameter_dict():
    pd = nn.ParameterDict({"b": nn.Parameter(rg.ones(2)), "a": rg.zeros(3)})
    ref = torch.nn.ParameterDict({"b": torch.nn.Parameter(torch.ones(2)), "a": torch.zeros(3)})
    assert list(pd.keys()) == list(ref.keys())
    assert list(pd.state_dict()) == list(ref.state_dict())
    assert _repr_body(pd).replace("torch.FloatTensor", "X") == repr(ref).replace("torch.FloatTensor", "X")
    assert isinstance(pd["a"], nn.Parameter) and "a" in pd and len(pd) == 2
    pd["c"] = rg.ones(1)
    pd.update({"d": rg.ones(4)})
    pd.update([("e", rg.ones(5))])
    assert list(pd) == ["a", "b", "c", "d", "e"]  # a plain dict is taken in sorted order, as PyTorch
    assert pd.pop("c").shape == (1,) and "c" not in pd
    assert pd.get("zz") is None and pd.setdefault("f", rg.ones(2)).shape == (2,)
    assert [k for k, _ in pd.items()] == list(pd.keys()) and len(list(pd.values())) == len(pd)
    k, v = pd.popitem()
    assert k == "f" and v.shape == (2,)
    merged = pd | nn.ParameterDict({"g": rg.ones(1)})
    assert "g" in merged and "g" not in pd
    pd |= {"h": rg.ones(1)}
    assert "h" in pd
    copy = pd.copy()
    assert list(copy) == list(pd) and copy["b"] is pd["b"]
    assert list(reversed(pd))[0] == "h"
    assert list(nn.ParameterDict().fromkeys(["x", "y"], rg.ones(1))) == ["x", "y"]
    del pd["b"]
    assert "b" not in pd
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []
    with pytest.raises(TypeError, match="ParametersDict.update should be called with an iterable"):
        pd.update(3)


def test_container_is_deprecated_module():
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        c = nn.Container(a=nn.ReLU(), b=nn.Linear(2, 3))
    with warnings.catch_warnings(record=True) as expected:
        warnings.simplefilter("always")
        ref = torch.nn.Container(a=torch.nn.ReLU(), b=torch.nn.Linear(2, 3))
    assert [(w.category, str(w.message)) for w in got] == [(w.category, str(w.message)) for w in expected]
    assert repr(c) == repr(ref)
    assert list(c.state_dict()) == list(ref.state_dict())


def test_buffer_registers_itself():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = nn.Buffer(rg.zeros(()))
            self.scratch = nn.Buffer(rg.ones(2), persistent=False)

    class RefNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = torch.nn.Buffer(torch.zeros(()))
            self.scratch = torch.nn.Buffer(torch.ones(2), persistent=False)

    net, ref = Net(), RefNet()
    assert list(net.state_dict()) == list(ref.state_dict()) == ["steps"]
    assert [k for k, _ in net.named_buffers()] == [k for k, _ in ref.named_buffers()]
    assert not net.steps.requires_grad and list(net.parameters()) == []
    b = nn.Buffer(rg.ones(2, requires_grad=True))
    assert not b.requires_grad and b.persistent and np.array_equal(b.numpy(), np.ones(2))
    assert nn.Buffer(rg.ones(1), persistent=False).persistent is False
