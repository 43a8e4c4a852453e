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


def test_extra_state_round_trip():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.calls = 0

        def get_extra_state(self):
            return {"calls": self.calls}

        def set_extra_state(self, state):
            self.calls = state["calls"]

    a = nn.Sequential(Counter())
    a[0].calls = 7
    sd = a.state_dict()
    assert list(sd) == ["0._extra_state", "0.lin.weight", "0.lin.bias"]  # own state first, as PyTorch
    b = nn.Sequential(Counter())
    b.load_state_dict(sd)
    assert b[0].calls == 7
    missing = {k: v for k, v in sd.items() if k != "0._extra_state"}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0._extra_state"'):
        b.load_state_dict(missing)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "lin._extra_state"'):
        nn.Sequential(nn.Linear(2, 2)).load_state_dict({"0.weight": rg.ones(2, 2), "0.bias": rg.ones(2),
                                                        "lin._extra_state": 1}, strict=True)
    with pytest.raises(RuntimeError, match="Module.get_extra_state"):
        nn.Linear(2, 2).get_extra_state()


def test_public_state_dict_hooks():
    m = nn.Linear(2, 2)
    seen = []
    handle = m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.pop(prefix + "bias"))
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        m.state_dict()
    handle.remove()
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: seen.append(list(sd)) or None)
    assert list(m.state_dict()) == ["weight", "bias"] and seen == [["weight", "bias"]]

    def pre(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        seen.append((module is m, sorted(state_dict)))
        state_dict[prefix + "bias"] = rg.full((2,), 3.0)

    m.register_load_state_dict_pre_hook(pre)
    m.load_state_dict({"weight": rg.ones(2, 2), "bias": rg.zeros(2)})
    assert seen[-1] == (True, ["bias", "weight"]) and m.bias.tolist() == [3.0, 3.0]


def test_set_submodule_to_empty_and_sequential_imul():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    net.set_submodule("1.0", nn.Tanh())
    assert isinstance(net[1][0], nn.Tanh)
    net.set_submodule("1.extra", nn.ReLU())
    assert isinstance(net[1].extra, nn.ReLU)
    with pytest.raises(AttributeError, match="Sequential has no attribute `nothing`"):
        net.set_submodule("1.nothing", nn.ReLU(), strict=True)
    with pytest.raises(ValueError, match="Cannot set the submodule without a target name!"):
        net.set_submodule("", nn.ReLU())
    with pytest.raises(ValueError, match="`module` is not an nn.Module"):
        net.set_submodule("0", 3)
    lin = nn.Linear(2, 3)
    lin.register_buffer("steps", rg.zeros(()))
    assert lin.to_empty(device="cpu") is lin and lin.weight.shape == (3, 2) and isinstance(lin.weight, nn.Parameter)
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    seq *= 3
    ref = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh())
    ref *= 3
    assert repr(seq) == repr(ref) and seq[2] is seq[0]
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        seq *= 0
