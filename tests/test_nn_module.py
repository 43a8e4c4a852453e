"""rustgrad.nn.Module semantics, Parameter, and the layer/container modules (PyTorch's behaviour)."""

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import rustgrad
import rustgrad.nn as nn
import rustgrad.nn.functional as F


class ConvNet(nn.Module):
    """The seed program's network (seed_programs/convnet.py)."""

    def __init__(self):
        super(ConvNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = x.view(-1, 64 * 7 * 7)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class MultiTask(nn.Module):
    """The seed program's container network (seed_programs/containers.py)."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(32, 3), nn.Linear(32, 1)])

    def forward(self, x):
        h = self.trunk(x)
        return [head(h) for head in self.heads]


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


# ----- Parameter ----------------------------------------------------------------------------------

def test_parameter_is_a_tensor_that_requires_grad_and_shares_storage():
    data = rustgrad.zeros(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, rustgrad.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert tuple(p.shape) == (2, 3)
    data[0, 0] = 5.0
    assert p[0, 0].item() == 5.0  # shares storage, as torch.nn.Parameter
    q = nn.Parameter(rustgrad.ones(2), requires_grad=False)
    assert not q.requires_grad
    assert tuple(nn.Parameter().shape) == (0,)


def test_parameter_repr():
    p = nn.Parameter(rustgrad.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    q = nn.Parameter(rustgrad.tensor([1.0, 2.0]), requires_grad=False)
    assert repr(q) == "Parameter containing:\ntensor([1., 2.])"


def test_parameter_deepcopy_and_pickle_keep_the_class():
    p = nn.Parameter(rustgrad.tensor([1.0, 2.0]))
    c = copy.deepcopy(p)
    assert type(c) is nn.Parameter and c.requires_grad
    assert c.tolist() == [1.0, 2.0]
    c.data.fill_(0.0)
    assert p.tolist() == [1.0, 2.0]  # a real copy
    u = pickle.loads(pickle.dumps(p))
    assert type(u) is nn.Parameter and u.requires_grad and u.tolist() == [1.0, 2.0]


def test_parameter_from_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(rustgrad.tensor([1, 2]))


# ----- registration -------------------------------------------------------------------------------

def test_attribute_assignment_registers_parameters_modules_and_plain_attributes():
    m = nn.Module()
    m.w = nn.Parameter(rustgrad.ones(2))
    m.sub = nn.Linear(2, 2)
    m.plain = rustgrad.zeros(1)  # a plain tensor is not a buffer
    m.k = 3
    assert list(m._parameters) == ["w"]
    assert list(m._modules) == ["sub"]
    assert list(m._buffers) == []
    assert "plain" in m.__dict__ and m.k == 3
    assert m.w is m._parameters["w"]
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]


def test_reassignment_moves_between_registries():
    m = nn.Module()
    m.x = nn.Parameter(rustgrad.ones(1))
    with pytest.raises(TypeError, match=r"cannot assign 'rustgrad.nn.modules.linear.Linear' as parameter 'x'"):
        m.x = nn.Linear(1, 1)  # as PyTorch: a parameter slot takes a Parameter or None
    m.y = nn.Linear(1, 1)
    m.y = nn.Parameter(rustgrad.ones(1))  # a Parameter replaces a module of the same name
    assert "y" in m._parameters and "y" not in m._modules
    m.z = 5
    m.z = nn.Linear(1, 1)  # and a module replaces a plain attribute
    assert "z" in m._modules and "z" not in m.__dict__
    del m.y, m.z
    assert "x" in m._parameters and "x" not in m._modules
    m.x = None  # a parameter slot may be None
    assert m._parameters["x"] is None and m.x is None
    assert list(m.parameters()) == []


def test_assigning_a_plain_tensor_to_a_parameter_name_fails():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign 'rustgrad.FloatTensor' as parameter 'weight' "
                                        r"\(torch.nn.Parameter or None expected\)"):
        m.weight = rustgrad.zeros(2, 2)
    m2 = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="as child module '0'"):
        setattr(m2, "0", 3)


def test_register_before_init_fails():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(rustgrad.ones(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Bad()

    class Bad2(nn.Module):
        def __init__(self):
            self.l = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__\(\) call"):
        Bad2()


def test_register_parameter_checks():
    m = nn.Module()
    with pytest.raises(KeyError) as e:
        m.register_parameter("a.b", nn.Parameter(rustgrad.ones(1)))
    assert e.value.args[0] == 'parameter name can\'t contain "."'
    with pytest.raises(KeyError) as e:
        m.register_parameter("", nn.Parameter(rustgrad.ones(1)))
    assert e.value.args[0] == 'parameter name can\'t be empty string ""'
    with pytest.raises(TypeError, match="parameter name should be a string. Got int"):
        m.register_parameter(1, nn.Parameter(rustgrad.ones(1)))
    with pytest.raises(TypeError, match=r"cannot assign 'rustgrad.FloatTensor' object to parameter 'p' "
                                        r"\(torch.nn.Parameter or None required\)"):
        m.register_parameter("p", rustgrad.ones(1))
    m.k = 1
    with pytest.raises(KeyError) as e:
        m.register_parameter("k", nn.Parameter(rustgrad.ones(1)))
    assert e.value.args[0] == "attribute 'k' already exists"
    m.register_parameter("none", None)
    assert m.none is None and "none" in m._parameters


def test_register_parameter_rejects_non_leaf():
    leaf = rustgrad.ones(2, requires_grad=True)
    m = nn.Module()
    p = nn.Parameter(rustgrad.ones(2))
    m.register_parameter("ok", p)
    non_leaf = leaf * 2
    # A Parameter built from a non-leaf is a leaf (it detaches), so build a non-leaf Parameter-typed
    # tensor is impossible: check the message for a tensor that is not a Parameter instead.
    with pytest.raises(TypeError, match="object to parameter 'bad'"):
        m.register_parameter("bad", non_leaf)


def test_register_buffer_persistent_and_not():
    m = nn.Module()
    m.register_buffer("a", rustgrad.zeros(2))
    m.register_buffer("b", rustgrad.ones(2), persistent=False)
    m.register_buffer("c", None)
    assert [n for n, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict().keys()) == ["a"]
    # Assigning to an existing buffer name keeps it a buffer.
    m.a = rustgrad.full((3,), 7.0)
    assert m._buffers["a"].tolist() == [7.0, 7.0, 7.0]
    with pytest.raises(TypeError, match=r"cannot assign 'int' as buffer 'a'"):
        m.a = 3
    with pytest.raises(TypeError, match=r"cannot assign 'int' object to buffer 'd' \(torch Tensor or None required\)"):
        m.register_buffer("d", 3)
    with pytest.raises(KeyError) as e:
        m.register_buffer("x.y", rustgrad.zeros(1))
    assert e.value.args[0] == 'buffer name can\'t contain "."'
    m.q = 1
    with pytest.raises(KeyError) as e:
        m.register_buffer("q", rustgrad.zeros(1))
    assert e.value.args[0] == "attribute 'q' already exists"


def test_add_module_and_register_module():
    m = nn.Module()
    m.add_module("first", nn.ReLU())
    m.register_module("second", nn.Tanh())
    m.add_module("none", None)
    assert list(m._modules) == ["first", "second", "none"]
    assert [n for n, _ in m.named_children()] == ["first", "second"]
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(KeyError) as e:
        m.add_module("a.b", nn.ReLU())
    assert e.value.args[0] == 'module name can\'t contain ".", got: a.b'
    with pytest.raises(KeyError) as e:
        m.add_module("", nn.ReLU())
    assert e.value.args[0] == 'module name can\'t be empty string ""'
    with pytest.raises(TypeError, match="module name should be a string. Got int"):
        m.add_module(3, nn.ReLU())


def test_delattr_removes_from_registries():
    m = MLP()
    m.register_buffer("buf", rustgrad.zeros(1), persistent=False)
    del m.fc1
    del m.buf
    assert "fc1" not in m._modules
    assert "buf" not in m._buffers and "buf" not in m._non_persistent_buffers_set
    with pytest.raises(AttributeError, match="'MLP' object has no attribute 'fc1'"):
        m.fc1
    m.x = 1
    del m.x
    assert not hasattr(m, "x")


def test_getattr_message():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        nn.Linear(1, 1).nope


def test_dir_lists_registered_names():
    d = dir(MLP())
    assert "fc1" in d and "act" in d and "forward" in d


def test_forward_not_implemented():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(1)


# ----- traversal ----------------------------------------------------------------------------------

def test_named_parameters_order_of_seed_containers():
    model = MultiTask()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["trunk.0.weight", "trunk.0.bias", "trunk.2.weight", "trunk.2.bias",
                     "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]
    assert len(list(model.parameters())) == 8
    assert [n for n, _ in model.named_parameters(prefix="model")][0] == "model.trunk.0.weight"
    assert list(model.named_parameters(recurse=False)) == []


def test_named_modules_and_children():
    model = MultiTask()
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "trunk", "trunk.0", "trunk.1", "trunk.2", "trunk.3", "heads", "heads.0", "heads.1"]
    assert [n for n, _ in model.named_children()] == ["trunk", "heads"]
    assert list(model.children())[0] is model.trunk
    assert len(list(model.modules())) == 9
    assert [n for n, _ in model.named_modules(prefix="m")][:2] == ["m", "m.trunk"]


def test_shared_parameters_and_modules_are_deduplicated():
    shared = nn.Linear(3, 3)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4
    # Tied weights: a parameter registered in two modules appears once.
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight
    both = nn.Sequential(a, b)
    assert [n for n, _ in both.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    # state_dict keeps every key, as PyTorch's.
    assert list(both.state_dict().keys()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_get_submodule_parameter_buffer():
    model = MultiTask()
    assert model.get_submodule("trunk.2") is model.trunk[2]
    assert model.get_submodule("") is model
    assert model.get_parameter("heads.1.bias") is model.heads[1].bias
    bn = nn.Sequential(nn.BatchNorm1d(3))
    assert bn.get_buffer("0.running_mean") is bn[0].running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        model.get_submodule("trunk.nope")


# ----- state_dict ---------------------------------------------------------------------------------

def test_state_dict_keys_values_and_metadata():
    model = MultiTask()
    sd = model.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd.keys()) == ["trunk.0.weight", "trunk.0.bias", "trunk.2.weight", "trunk.2.bias",
                               "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]
    w = sd["trunk.0.weight"]
    assert not isinstance(w, nn.Parameter) and not w.requires_grad
    # Detached but sharing storage with the parameter.
    w[0, 0] = 123.0
    assert model.trunk[0].weight[0, 0].item() == 123.0
    assert sd._metadata[""] == {"version": 1} and "trunk.0" in sd._metadata
    kept = model.state_dict(keep_vars=True)
    assert kept["trunk.0.weight"] is model.trunk[0].weight
    prefixed = model.state_dict(prefix="net.")
    assert next(iter(prefixed)) == "net.trunk.0.weight"


def test_state_dict_round_trip_between_models():
    rustgrad.manual_seed(1)
    a, b = MultiTask(), MultiTask()
    x = rustgrad.randn(5, 20)
    assert not a(x)[0].allclose(b(x)[0])
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and pa.tolist() == pb.tolist()
        assert pa.data_ptr() != pb.data_ptr()  # copied, not shared
    assert a(x)[0].allclose(b(x)[0]) and a(x)[1].allclose(b(x)[1])


def test_load_state_dict_keeps_parameter_objects():
    m = nn.Linear(3, 2)
    w = m.weight
    m.load_state_dict({"weight": rustgrad.ones(2, 3), "bias": rustgrad.zeros(2)})
    assert m.weight is w and w.tolist() == [[1.0] * 3] * 2 and w.requires_grad


def test_load_state_dict_missing_key_message():
    m = nn.Linear(4, 2)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict({"weight": rustgrad.zeros(2, 4)})
    assert str(e.value) == ('Error(s) in loading state_dict for Linear:\n'
                            '\tMissing key(s) in state_dict: "bias". ')


def test_load_state_dict_unexpected_key_message():
    m = nn.Linear(4, 2)
    sd = dict(m.state_dict())
    sd["extra"] = rustgrad.zeros(1)
    sd["sub.x"] = rustgrad.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    assert str(e.value) == ('Error(s) in loading state_dict for Linear:\n'
                            '\tUnexpected key(s) in state_dict: "extra", "sub.x". ')


def test_load_state_dict_size_mismatch_message():
    m = nn.Linear(4, 3)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict({"weight": rustgrad.zeros(2, 4), "bias": rustgrad.zeros(3)})
    assert str(e.value) == ("Error(s) in loading state_dict for Linear:\n"
                            "\tsize mismatch for weight: copying a param with shape rustgrad.Size([2, 4]) from "
                            "checkpoint, the shape in current model is rustgrad.Size([3, 4]).")


def test_load_state_dict_all_errors_together_in_pytorch_order():
    model = MLP()
    sd = model.state_dict()
    del sd["fc2.bias"]
    sd["fc1.weight"] = rustgrad.zeros(1, 1)
    sd["fc3.weight"] = rustgrad.zeros(1)
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(sd)
    assert str(e.value) == (
        "Error(s) in loading state_dict for MLP:\n"
        '\tMissing key(s) in state_dict: "fc2.bias". \n'
        '\tUnexpected key(s) in state_dict: "fc3.weight". \n'
        "\tsize mismatch for fc1.weight: copying a param with shape rustgrad.Size([1, 1]) from checkpoint, "
        "the shape in current model is rustgrad.Size([8, 4]).")


def test_load_state_dict_non_strict_returns_keys():
    model = MLP()
    before = model.fc1.weight.tolist()
    sd = {"fc2.weight": rustgrad.zeros(2, 8), "other": rustgrad.zeros(1)}
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.weight", "fc1.bias", "fc2.bias"]
    assert result.unexpected_keys == ["other"]
    assert result == (["fc1.weight", "fc1.bias", "fc2.bias"], ["other"])
    assert model.fc2.weight.abs().sum().item() == 0.0
    assert model.fc1.weight.tolist() == before


def test_load_state_dict_type_errors():
    m = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got <class 'list'>."):
        m.load_state_dict([])
    with pytest.raises(RuntimeError, match='While copying the parameter named "weight", expected torch.Tensor'):
        m.load_state_dict({"weight": 1.0, "bias": rustgrad.zeros(1)})


def test_load_state_dict_assign():
    m = nn.Linear(2, 2)
    new_w = rustgrad.ones(2, 2)
    m.load_state_dict({"weight": new_w, "bias": rustgrad.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    new_w[0, 0] = 5.0
    assert m.weight[0, 0].item() == 5.0  # assigned (shares storage), not copied


def test_state_dict_buffers_batchnorm_round_trip():
    a = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked"]
    assert sd["1.num_batches_tracked"].dtype == rustgrad.int64
    a[1].running_mean.fill_(2.0)
    b = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    b.load_state_dict(a.state_dict())
    assert b[1].running_mean.tolist() == [2.0, 2.0, 2.0]
    # A checkpoint without num_batches_tracked (and no version metadata) still loads strictly.
    sd = {k: v for k, v in a.state_dict().items() if not k.endswith("num_batches_tracked")}
    b.load_state_dict(sd)


def test_non_persistent_buffer_not_in_state_dict_nor_expected():
    m = nn.Module()
    m.register_buffer("tmp", rustgrad.zeros(1), persistent=False)
    assert list(m.state_dict()) == []
    assert m.load_state_dict({}) == ([], [])


def test_load_state_dict_0d_from_1d():
    m = nn.Module()
    m.register_buffer("count", rustgrad.tensor(0))
    m.load_state_dict({"count": rustgrad.tensor([7])})
    assert m.count.item() == 7 and m.count.dim() == 0


# ----- hooks --------------------------------------------------------------------------------------

def test_forward_pre_hook_and_hook_order_and_removal():
    m = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append(("pre", mod is m, len(args)))

    def post(mod, args, out):
        calls.append(("post", tuple(out.shape)))

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    m(rustgrad.ones(3, 2))
    assert calls == [("pre", True, 1), ("post", (3, 2))]
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    calls.clear()
    m(rustgrad.ones(3, 2))
    assert calls == []


def test_hooks_can_replace_inputs_and_outputs():
    m = nn.Identity()
    m.register_forward_pre_hook(lambda mod, args: args[0] * 2)  # a single value is wrapped in a tuple
    m.register_forward_hook(lambda mod, args, out: out + 1)
    assert m(rustgrad.tensor([1.0])).tolist() == [3.0]


def test_hooks_prepend_and_kwargs():
    m = nn.Identity()
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    seen = {}

    def pre_kw(mod, args, kwargs):
        seen["kwargs"] = dict(kwargs)
        return args, kwargs

    def post_kw(mod, args, kwargs, out):
        seen["out"] = out

    m.register_forward_pre_hook(pre_kw, with_kwargs=True)
    m.register_forward_hook(post_kw, with_kwargs=True)
    out = m(input=rustgrad.tensor([4.0]))
    assert order == ["b", "a"]
    assert "input" in seen["kwargs"] and seen["out"] is out


def test_bad_pre_hook_with_kwargs_return_value():
    m = nn.Identity()
    m.register_forward_pre_hook(lambda mod, args, kwargs: 3, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"forward pre-hook must return None or a tuple of \(new_args, new_kwargs\)"):
        m(rustgrad.ones(1))


def test_hook_handle_context_manager_and_always_call():
    m = nn.Linear(2, 2)
    calls = []
    with m.register_forward_hook(lambda *a: calls.append(1)):
        m(rustgrad.ones(1, 2))
    m(rustgrad.ones(1, 2))
    assert calls == [1]
    m.register_forward_hook(lambda mod, args, out: calls.append("always"), always_call=True)
    with pytest.raises(RuntimeError):
        m(rustgrad.ones(1, 5))
    assert calls[-1] == "always"


# ----- repr ---------------------------------------------------------------------------------------

SEED_CONVNET_REPR = """ConvNet(
  (conv1): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (conv2): Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (fc1): Linear(in_features=3136, out_features=128, bias=True)
  (fc2): Linear(in_features=128, out_features=10, bias=True)
)"""


def test_repr_of_seed_convnet_exactly_as_pytorch():
    assert repr(ConvNet()) == SEED_CONVNET_REPR


def test_repr_of_seed_containers_network():
    assert repr(MultiTask()) == """MultiTask(
  (trunk): Sequential(
    (0): Linear(in_features=20, out_features=64, bias=True)
    (1): ReLU()
    (2): Linear(in_features=64, out_features=32, bias=True)
    (3): ReLU()
  )
  (heads): ModuleList(
    (0): Linear(in_features=32, out_features=3, bias=True)
    (1): Linear(in_features=32, out_features=1, bias=True)
  )
)"""


def test_repr_of_every_layer():
    cases = [
        (nn.Conv2d(3, 8, 5, stride=2, padding=(1, 2), dilation=2, groups=1, bias=False),
         "Conv2d(3, 8, kernel_size=(5, 5), stride=(2, 2), padding=(1, 2), dilation=(2, 2), bias=False)"),
        (nn.Conv2d(4, 8, (1, 3), groups=2, padding_mode="reflect", padding=1),
         "Conv2d(4, 8, kernel_size=(1, 3), stride=(1, 1), padding=(1, 1), groups=2, padding_mode=reflect)"),
        (nn.Conv2d(1, 1, 3, padding="same"), "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=same)"),
        (nn.Conv2d(1, 1, 3, padding="valid"), "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=valid)"),
        (nn.MaxPool2d(2), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"),
        (nn.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True),
         "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)"),
        (nn.AvgPool2d(2), "AvgPool2d(kernel_size=2, stride=2, padding=0)"),
        (nn.AdaptiveAvgPool2d((1, 1)), "AdaptiveAvgPool2d(output_size=(1, 1))"),
        (nn.AdaptiveAvgPool2d(7), "AdaptiveAvgPool2d(output_size=7)"),
        (nn.BatchNorm1d(10),
         "BatchNorm1d(10, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"),
        (nn.BatchNorm2d(4, momentum=None, affine=False),
         "BatchNorm2d(4, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=True)"),
        (nn.Dropout(), "Dropout(p=0.5, inplace=False)"),
        (nn.ReLU(), "ReLU()"),
        (nn.ReLU(inplace=True), "ReLU(inplace=True)"),
        (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
        (nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
        (nn.GELU(), "GELU(approximate='none')"),
        (nn.GELU("tanh"), "GELU(approximate='tanh')"),
        (nn.Sigmoid(), "Sigmoid()"),
        (nn.Tanh(), "Tanh()"),
        (nn.Softmax(dim=1), "Softmax(dim=1)"),
        (nn.LogSoftmax(dim=-1), "LogSoftmax(dim=-1)"),
        (nn.Flatten(), "Flatten(start_dim=1, end_dim=-1)"),
        (nn.Unflatten(1, (2, 5)), "Unflatten(dim=1, unflattened_size=(2, 5))"),
        (nn.Identity(), "Identity()"),
        (nn.Linear(3, 1, bias=False), "Linear(in_features=3, out_features=1, bias=False)"),
        (nn.CrossEntropyLoss(), "CrossEntropyLoss()"),
        (nn.MSELoss(), "MSELoss()"),
        (nn.ModuleList(), "ModuleList()"),
        (nn.Sequential(), "Sequential()"),
    ]
    for module, expected in cases:
        assert repr(module) == expected


def test_repr_module_list_groups_repeats_and_nests():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    assert repr(ml) == """ModuleList(
  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
  (3): ReLU()
  (4): Linear(in_features=2, out_features=2, bias=True)
)"""
    md = nn.ModuleDict({"enc": nn.Sequential(nn.Linear(1, 2)), "act": nn.ReLU()})
    assert repr(md) == """ModuleDict(
  (enc): Sequential(
    (0): Linear(in_features=1, out_features=2, bias=True)
  )
  (act): ReLU()
)"""


def test_extra_repr_with_children():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def extra_repr(self):
            return "k=3"

    assert repr(WithExtra()) == "WithExtra(\n  k=3\n  (lin): Linear(in_features=1, out_features=1, bias=True)\n)"


# ----- modes, grads, apply, to --------------------------------------------------------------------

def test_train_eval_propagate():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")


def test_zero_grad_and_requires_grad_():
    m = MLP()
    m(rustgrad.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_apply_visits_children_first():
    seen = []
    model = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    model.apply(init_weights)
    assert model[0].weight.item() == 0.5


def test_to_dtype_replaces_data_in_place():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params_before = list(m.parameters())
    m[0](rustgrad.randn(4, 3)).sum().backward()
    m[1].weight.grad = rustgrad.ones(2)
    m[1].bias.grad = rustgrad.ones(2)
    assert m.to(rustgrad.float64) is m
    params_after = list(m.parameters())
    # Same Parameter objects (optimizers keep working), converted data and grads.
    assert all(a is b for a, b in zip(params_before, params_after))
    assert all(p.dtype == rustgrad.float64 for p in m.parameters())
    assert all(p.grad.dtype == rustgrad.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == rustgrad.float64
    assert m[1].num_batches_tracked.dtype == rustgrad.int64  # integer buffers keep their dtype
    assert m[0](rustgrad.randn(4, 3, dtype=rustgrad.float64)).dtype == rustgrad.float64
    m.float()
    assert all(p.dtype == rustgrad.float32 for p in m.parameters())
    m.double()
    assert m[0].weight.dtype == rustgrad.float64
    m.to(dtype=rustgrad.float32)
    assert m[0].weight.dtype == rustgrad.float32
    m.to("cpu")
    m.to(rustgrad.device("cpu"), rustgrad.float64)
    assert m[0].weight.dtype == rustgrad.float64
    m.to(rustgrad.zeros(1))  # to(tensor): its dtype and device
    assert m[0].weight.dtype == rustgrad.float32
    assert m.cpu() is m
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, but got "
                                        "desired dtype=rustgrad.int64"):
        m.to(rustgrad.int64)


def test_cuda_raises_the_core_error_without_a_gpu():
    if rustgrad.cuda.is_available():
        pytest.skip("a GPU is available here")
    m = nn.Linear(2, 2)
    w = m.weight.tolist()
    with pytest.raises(RuntimeError) as e:
        m.cuda()
    with pytest.raises(RuntimeError) as e2:
        rustgrad.zeros(1).cuda()
    assert str(e.value) == str(e2.value)
    assert m.weight.tolist() == w and m.weight.device.type == "cpu"
    with pytest.raises(RuntimeError):
        m.to("cuda")


def test_optimizer_style_reference_survives_to():
    m = nn.Linear(2, 1)
    held = [p for p in m.parameters()]
    m.double()
    with rustgrad.no_grad():
        for p in held:
            p.sub_(p)  # an in-place update through the held reference
    assert m.weight.abs().sum().item() == 0.0


def test_deepcopy_and_pickle_module():
    m = MLP()
    m.register_buffer("b", rustgrad.ones(1))
    c = copy.deepcopy(m)
    assert type(c.fc1.weight) is nn.Parameter
    assert c.fc1.weight.tolist() == m.fc1.weight.tolist()
    assert c.fc1.weight is not m.fc1.weight
    x = rustgrad.randn(2, 4)
    assert c(x).allclose(m(x))
    u = pickle.loads(pickle.dumps(m))
    assert u(x).allclose(m(x)) and list(u.state_dict()) == list(m.state_dict())


def test_call_goes_through_forward_and_backward_works():
    m = MLP()
    x = rustgrad.randn(5, 4)
    out = m(x)
    assert tuple(out.shape) == (5, 2)
    out.sum().backward()
    assert tuple(m.fc1.weight.grad.shape) == (8, 4)


# ----- Linear and init distributions of layers ----------------------------------------------------

def test_linear_forward_matches_numpy():
    m = nn.Linear(5, 3)
    x = rustgrad.randn(4, 5)
    expected = x.numpy() @ m.weight.detach().numpy().T + m.bias.detach().numpy()
    np.testing.assert_allclose(m(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    nb = nn.Linear(5, 3, bias=False)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]


def test_linear_wrong_width_message():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x5 and 4x2\)"):
        nn.Linear(4, 2)(rustgrad.randn(3, 5))


def test_linear_and_conv_init_bounds_as_pytorch():
    rustgrad.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in) too
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    b = lin.bias.detach().numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound
    conv = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    cb = 1 / math.sqrt(fan_in)
    cw = conv.weight.detach().numpy()
    assert cw.shape == (32, 16, 3, 3)
    assert np.abs(cw).max() <= cb and np.abs(cw).max() > 0.99 * cb
    assert np.abs(conv.bias.detach().numpy()).max() <= cb


def test_layer_construction_dtype_argument():
    m = nn.Linear(2, 3, dtype=rustgrad.float64)
    assert m.weight.dtype == rustgrad.float64 and m.bias.dtype == rustgrad.float64
    c = nn.Conv2d(1, 2, 3, dtype=rustgrad.float64, bias=False)
    assert c.weight.dtype == rustgrad.float64 and c.bias is None


def test_conv2d_argument_checks():
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv2d(2, 2, 3, groups=0)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 2, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(2, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    c = nn.Conv2d(4, 6, (3, 5), groups=2, padding="same", dilation=(1, 2))
    assert tuple(c.weight.shape) == (6, 2, 3, 5)
    assert c._reversed_padding_repeated_twice == [4, 4, 1, 1]


def test_batchnorm_buffers_and_checks():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
    assert bn.num_batches_tracked.item() == 0 and bn.num_batches_tracked.dtype == rustgrad.int64
    assert bn.weight.tolist() == [1.0] * 3 and bn.bias.tolist() == [0.0] * 3
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input\)"):
        bn(rustgrad.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(rustgrad.randn(2, 3, 4, 4))
    nt = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert list(nt.named_buffers()) == [] and list(nt.parameters()) == []
    assert list(nt.state_dict()) == []


def test_dropout_and_loss_module_arguments():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    loss = nn.CrossEntropyLoss(weight=rustgrad.ones(3), ignore_index=1, label_smoothing=0.1)
    assert [n for n, _ in loss.named_buffers()] == ["weight"]
    assert loss.ignore_index == 1 and loss.reduction == "mean"
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated, please use "
                                         "reduction='sum' instead."):
        legacy = nn.MSELoss(size_average=False)
    assert legacy.reduction == "sum"
    bce = nn.BCEWithLogitsLoss(pos_weight=rustgrad.ones(2))
    assert [n for n, _ in bce.named_buffers()] == ["pos_weight"]


def test_activation_modules_that_use_tensor_methods():
    x = rustgrad.tensor([[-1.0, 0.5, 2.0]])
    assert nn.ReLU()(x).tolist() == [[0.0, 0.5, 2.0]]
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    e = np.exp(x.numpy())
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(), e / e.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).numpy(), np.log(e / e.sum(1, keepdims=True)), rtol=1e-5)
    assert tuple(nn.Flatten()(rustgrad.zeros(2, 3, 4)).shape) == (2, 12)
    assert tuple(nn.Flatten(0)(rustgrad.zeros(2, 3, 4)).shape) == (24,)
    assert tuple(nn.Unflatten(1, (3, 4))(rustgrad.zeros(2, 12)).shape) == (2, 3, 4)
    assert nn.Identity(3, k=4)(x) is x
    y = x.clone()
    out = nn.ReLU(inplace=True)(y)
    assert out is y and y.tolist() == [[0.0, 0.5, 2.0]]


def test_softmax_module_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
        out = nn.Softmax()(rustgrad.zeros(2, 4))
    assert np.allclose(out.numpy(), 0.25)


# ----- containers ---------------------------------------------------------------------------------

def test_sequential_positional_and_ordered_dict():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and list(seq._modules) == ["0", "1", "2"]
    x = rustgrad.randn(4, 2)
    assert seq(x).allclose(seq[2](seq[1](seq[0](x))))
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(named._modules) == ["fc", "act"] and named.fc is named[0]
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]


def test_sequential_indexing_slicing_and_errors():
    layers = [nn.Linear(1, 1), nn.ReLU(), nn.Tanh(), nn.Sigmoid()]
    seq = nn.Sequential(*layers)
    assert seq[0] is layers[0] and seq[-1] is layers[3] and seq[-4] is layers[0]
    sub = seq[1:3]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:3]
    assert list(sub._modules) == ["1", "2"]  # slicing keeps the names, as PyTorch
    assert list(seq[::-1]) == layers[::-1]
    with pytest.raises(IndexError, match="index 4 is out of range"):
        seq[4]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        seq[-5]
    with pytest.raises(TypeError):
        seq["0"]
    assert list(iter(seq)) == layers


def test_sequential_append_insert_extend_del_set():
    seq = nn.Sequential(nn.Linear(1, 1))
    relu = nn.ReLU()
    assert seq.append(relu) is seq
    assert seq[1] is relu and list(seq._modules) == ["0", "1"]
    tanh = nn.Tanh()
    seq.insert(1, tanh)
    assert list(seq) == [seq[0], tanh, relu]
    sig = nn.Sigmoid()
    seq.insert(-1, sig)
    assert seq[2] is sig and len(seq) == 4
    seq.extend([nn.Identity(), nn.Identity()])
    assert len(seq) == 6
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2", "3", "4"] and seq[1] is sig
    del seq[-2:]
    assert len(seq) == 3 and list(seq._modules) == ["0", "1", "2"]
    new = nn.GELU()
    seq[0] = new
    assert seq[0] is new
    with pytest.raises(IndexError, match="Index out of range: 9"):
        seq.insert(9, nn.ReLU())
    popped = seq.pop(0)
    assert popped is new and len(seq) == 2
    both = seq + nn.Sequential(nn.ReLU())
    assert len(both) == 3 and isinstance(both, nn.Sequential)
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        seq + nn.ReLU()
    assert len(seq * 2) == 4


def test_module_list_behaviour():
    layers = [nn.Linear(2, 2) for _ in range(3)]
    ml = nn.ModuleList(layers)
    assert len(ml) == 3 and ml[-1] is layers[2] and list(ml) == layers
    assert [n for n, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    sub = ml[1:]
    assert isinstance(sub, nn.ModuleList) and list(sub) == layers[1:] and list(sub._modules) == ["0", "1"]
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert len(ml) == 6
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and ml[1] is layers[0] and len(ml) == 7
    del ml[0]
    assert ml[0] is layers[0] and list(ml._modules) == [str(i) for i in range(6)]
    ml[0] = nn.GELU()
    assert isinstance(ml[0], nn.GELU)
    with pytest.raises(IndexError, match="index 6 is out of range"):
        ml[6]
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got Linear"):
        ml.extend(nn.Linear(1, 1))
    assert len(ml + nn.ModuleList([nn.ReLU()])) == 7
    with pytest.raises(NotImplementedError):
        ml(rustgrad.ones(1))


def test_module_dict_behaviour():
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md) == ["a", "b"] and len(md) == 2 and "a" in md and "z" not in md
    assert list(md.keys()) == ["a", "b"] and isinstance(md["b"], nn.ReLU)
    md["c"] = nn.Tanh()
    md.update([("d", nn.Sigmoid())])
    md.update(nn.ModuleDict({"e": nn.Identity()}))
    assert list(md.keys()) == ["a", "b", "c", "d", "e"]
    assert [k for k, _ in md.items()] == list(md.keys()) and len(list(md.values())) == 5
    assert isinstance(md.pop("c"), nn.Tanh) and "c" not in md
    del md["d"]
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 3; 2 is required"):
        md.update([("x", nn.ReLU(), 3)])
    with pytest.raises(TypeError, match="ModuleDict.update should be called with an iterable of key/value pairs, "
                                        "but got int"):
        md.update(3)
    md.clear()
    assert len(md) == 0


def test_seed_containers_parameters_are_trainable_together():
    rustgrad.manual_seed(0)
    model = MultiTask()
    x = rustgrad.randn(8, 20)
    logits, value = model(x)
    (logits.sum() + value.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


# ----- nn.utils -----------------------------------------------------------------------------------

def test_clip_grad_norm_and_value():
    a = nn.Parameter(rustgrad.zeros(2))
    b = nn.Parameter(rustgrad.zeros(2))
    a.grad = rustgrad.tensor([3.0, 0.0])
    b.grad = rustgrad.tensor([0.0, 4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert math.isclose(total.item(), 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.8], rtol=1e-5)
    # Under the limit: unchanged.
    total = nn.utils.clip_grad_norm_([a, b], max_norm=10.0)
    assert math.isclose(total.item(), 1.0, rel_tol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    inf_norm = nn.utils.clip_grad_norm_(a, 0.3, norm_type="inf")
    assert math.isclose(inf_norm.item(), 0.6, rel_tol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [0.3, 0.0], rtol=1e-4)
    a.grad = rustgrad.tensor([float("nan"), 0.0])
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(rustgrad.zeros(1))], 1.0).item() == 0.0
    b.grad = rustgrad.tensor([-2.0, 0.5])
    nn.utils.clip_grad_value_([b], 1.0)
    assert b.grad.tolist() == [-1.0, 0.5]


def test_parameters_to_vector_and_back():
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert tuple(vec.shape) == (8,)
    assert vec[:6].tolist() == m.weight.reshape(-1).tolist()
    nn.utils.vector_to_parameters(rustgrad.arange(8, dtype=rustgrad.float32), m.parameters())
    assert m.weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and m.bias.tolist() == [6.0, 7.0]
    assert m.weight.requires_grad
