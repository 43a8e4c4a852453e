"""PyTorch's module layout: every submodule imports, the names live at PyTorch's homes, the eager
pass-throughs (jit, compile) return their argument, and the entry points of what is not
implemented yet raise NotImplementedError naming it."""

import importlib
import multiprocessing as std_multiprocessing
import warnings

import numpy as np
import pytest

import rustgrad
import rustgrad.nn as nn

SUBMODULES = [
    "utils.data", "utils.data.dataloader", "utils.data.dataset", "utils.data.sampler", "utils.data.distributed",
    "utils.data._utils", "utils.checkpoint", "serialization", "distributed", "nn.parallel", "multiprocessing", "onnx",
    "jit", "jit.annotations", "backends", "backends.cuda", "backends.cudnn",
]

# name -> the PyTorch home where it lives too
NAMES = {
    "distributed": ["is_available", "is_initialized", "init_process_group", "destroy_process_group", "get_rank",
                    "get_world_size", "barrier", "all_reduce", "all_gather", "broadcast", "reduce", "new_group"],
    "nn.parallel": ["DataParallel", "DistributedDataParallel"],
    "nn": ["DataParallel", "parallel"],
    "onnx": ["export", "is_in_onnx_export"],
    "jit": ["script", "trace", "trace_module", "ignore", "unused", "export", "is_scripting", "is_tracing", "save",
            "load", "ScriptModule", "ScriptFunction", "Final", "annotations"],
    "multiprocessing": ["spawn", "start_processes", "set_sharing_strategy", "get_sharing_strategy",
                        "get_all_sharing_strategies", "Process", "Queue", "Pool", "get_context", "set_start_method",
                        "cpu_count"],
    "": ["compile", "distributed", "jit", "multiprocessing", "onnx"],
}


def _module(prefix, name):
    return importlib.import_module(f"{prefix}.{name}" if name else prefix)


@pytest.mark.parametrize("name", SUBMODULES)
def test_submodule_imports_and_is_an_attribute(name):
    module = importlib.import_module(f"rustgrad.{name}")
    parent = rustgrad
    for part in name.split("."):
        parent = getattr(parent, part)
    assert parent is module


@pytest.mark.parametrize("module", sorted(NAMES))
def test_names_at_their_homes(module):
    ours = _module("rustgrad", module)
    for name in NAMES[module]:
        assert hasattr(ours, name), f"rustgrad.{module}.{name}"


@pytest.mark.parametrize("module", sorted(NAMES))
def test_names_at_the_same_homes_in_pytorch(module):
    pytest.importorskip("torch")
    theirs = _module("torch", module)
    for name in NAMES[module]:
        assert hasattr(theirs, name), f"torch.{module}.{name}"


# ----- distributed ---------------------------------------------------------------------------------

def test_distributed_reports_itself_unavailable():
    assert rustgrad.distributed.is_available() is False
    assert rustgrad.distributed.is_initialized() is False


@pytest.mark.parametrize("name", ["init_process_group", "destroy_process_group", "barrier", "all_reduce", "broadcast",
                                  "all_gather", "reduce", "new_group"])
def test_distributed_entry_points_raise_not_implemented(name):
    with pytest.raises(NotImplementedError, match=r"rustgrad\.distributed \(multi-process training\) is not "
                                                  r"implemented yet"):
        getattr(rustgrad.distributed, name)(backend="gloo") if name == "init_process_group" else \
            getattr(rustgrad.distributed, name)(rustgrad.ones(2))


@pytest.mark.parametrize("name", ["get_rank", "get_world_size"])
def test_distributed_queries_without_a_group_raise_as_pytorch(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as theirs:
        getattr(torch.distributed, name)()
    with pytest.raises(ValueError) as ours:
        getattr(rustgrad.distributed, name)()
    assert str(ours.value) == str(theirs.value)


# ----- nn.parallel ---------------------------------------------------------------------------------

def test_data_parallel_runs_the_module_and_prefixes_the_state_dict():
    rustgrad.manual_seed(0)
    module = nn.Linear(3, 2)
    wrapped = nn.DataParallel(module)
    assert wrapped.module is module
    x = rustgrad.randn(4, 3)
    np.testing.assert_allclose(wrapped(x).detach().numpy(), module(x).detach().numpy())
    assert sorted(wrapped.state_dict()) == ["module.bias", "module.weight"]
    assert [id(p) for p in wrapped.parameters()] == [id(p) for p in module.parameters()]
    # Gradients flow to the wrapped module's parameters.
    wrapped(x).sum().backward()
    assert module.weight.grad is not None
    if not rustgrad.cuda.is_available():
        assert wrapped.device_ids == []


def test_data_parallel_passes_keyword_arguments():
    class Scale(nn.Module):
        def forward(self, x, *, factor):
            return x * factor

    out = nn.parallel.DataParallel(Scale())(rustgrad.ones(2), factor=3.0)
    assert out.tolist() == [3.0, 3.0]


def test_distributed_data_parallel_raises_not_implemented():
    with pytest.raises(NotImplementedError, match="DistributedDataParallel.*multi-process training"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


# ----- multiprocessing -----------------------------------------------------------------------------

def test_multiprocessing_re_exports_the_standard_library():
    for name in std_multiprocessing.__all__:
        assert getattr(rustgrad.multiprocessing, name) is getattr(std_multiprocessing, name), name


@pytest.mark.parametrize("name", ["spawn", "start_processes", "set_sharing_strategy", "get_sharing_strategy",
                                  "get_all_sharing_strategies"])
def test_multiprocessing_entry_points_raise_not_implemented(name):
    with pytest.raises(NotImplementedError, match=f"rustgrad.multiprocessing.{name} is not implemented yet"):
        getattr(rustgrad.multiprocessing, name)(print)


# ----- onnx ----------------------------------------------------------------------------------------

def test_onnx_export_raises_not_implemented():
    assert rustgrad.onnx.is_in_onnx_export() is False
    with pytest.raises(NotImplementedError, match="ONNX export"):
        rustgrad.onnx.export(nn.Linear(2, 2), (rustgrad.ones(1, 2),), "model.onnx")
    with pytest.raises(NotImplementedError, match="ONNX export"):
        rustgrad.onnx.dynamo_export(nn.Linear(2, 2), rustgrad.ones(1, 2))


# ----- jit -----------------------------------------------------------------------------------------

def test_script_returns_its_argument():
    module = nn.Linear(2, 2)

    def f(x):
        return x + 1

    assert rustgrad.jit.script(module) is module
    assert rustgrad.jit.script(f) is f


def test_trace_runs_the_example_and_returns_its_argument():
    calls = []

    def f(x, y):
        calls.append((x.shape, y.shape))
        return x + y

    assert rustgrad.jit.trace(f, (rustgrad.ones(2), rustgrad.ones(2))) is f
    assert calls == [((2,), (2,))]
    module = nn.Linear(2, 3)
    assert rustgrad.jit.trace(module, rustgrad.ones(1, 2)) is module
    # An example the model cannot run on fails, as it does under PyTorch.
    with pytest.raises(RuntimeError):
        rustgrad.jit.trace(module, rustgrad.ones(1, 5))
    with pytest.raises(RuntimeError, match="example_kwarg_inputs or example_inputs should be provided"):
        rustgrad.jit.trace(module)
    assert rustgrad.jit.trace(f, example_kwarg_inputs={"x": rustgrad.ones(1), "y": rustgrad.ones(1)}) is f


def test_trace_does_not_record_gradients():
    module = nn.Linear(2, 1)
    rustgrad.jit.trace(module, rustgrad.ones(1, 2))
    assert module.weight.grad is None


def test_trace_module_runs_each_method():
    class Two(nn.Module):
        def forward(self, x):
            return x * 2

        def half(self, x):
            return x / 2

    module = Two()
    assert rustgrad.jit.trace_module(module, {"forward": rustgrad.ones(2), "half": (rustgrad.ones(2),)}) is module
    with pytest.raises(AttributeError):
        rustgrad.jit.trace_module(module, {"missing": rustgrad.ones(2)})


@pytest.mark.parametrize("name", ["ignore", "unused", "export"])
def test_decorators_leave_what_they_decorate(name):
    decorator = getattr(rustgrad.jit, name)

    def f(x):
        return x

    assert decorator(f) is f
    if name == "ignore":
        assert decorator(drop=True)(f) is f
        assert decorator()(f) is f


def test_jit_queries_and_classes():
    assert rustgrad.jit.is_scripting() is False
    assert rustgrad.jit.is_tracing() is False
    module = rustgrad.jit.script(nn.Linear(1, 1))
    assert not isinstance(module, rustgrad.jit.ScriptModule)
    assert not isinstance(rustgrad.jit.script(len), rustgrad.jit.ScriptFunction)
    import typing

    assert rustgrad.jit.Final is typing.Final
    from rustgrad.jit.annotations import List, Optional, Tuple  # noqa: F401


@pytest.mark.parametrize("name", ["save", "load"])
def test_jit_archives_raise_pointing_at_onnx(name):
    args = (nn.Linear(1, 1), "m.pt") if name == "save" else ("m.pt",)
    with pytest.raises(NotImplementedError, match="ONNX"):
        getattr(rustgrad.jit, name)(*args)


# ----- compile -------------------------------------------------------------------------------------

def test_compile_returns_its_argument():
    module = nn.Linear(2, 2)
    assert rustgrad.compile(module) is module
    assert rustgrad.compile(module, mode="max-autotune", fullgraph=True, dynamic=False) is module
    assert rustgrad.compile(module, backend="eager") is module
    assert rustgrad.compile(module, disable=True) is module
    assert rustgrad.compile(module, options={"triton.cudagraphs": False}) is module


def test_compile_as_a_decorator():
    @rustgrad.compile
    def f(x):
        return x * 2

    @rustgrad.compile(mode="reduce-overhead")
    def g(x):
        return x * 3

    assert f(rustgrad.ones(1)).item() == 2.0
    assert g(rustgrad.ones(1)).item() == 3.0
    assert g.__name__ == "g"


BAD_COMPILES = [
    ((3,), {}),
    ((nn.Linear(1, 1),), {"mode": "fastest"}),
    ((nn.Linear(1, 1),), {"mode": "max-autotune", "options": {"a": 1}}),
    ((nn.Linear(1, 1),), {"backend": "nosuch"}),
]


@pytest.mark.parametrize("args,kwargs", BAD_COMPILES)
def test_compile_validates_as_pytorch(args, kwargs):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as theirs:
            torch.compile(*args, **kwargs)
    with pytest.raises(Exception) as ours:
        rustgrad.compile(*args, **kwargs)
    # The same builtin exception class (PyTorch's InvalidBackend is a RuntimeError) and message.
    builtin = next(c for c in type(theirs.value).__mro__ if c.__module__ == "builtins")
    assert isinstance(ours.value, builtin)
    assert str(ours.value) == str(theirs.value)


def test_compile_decorator_checks_when_applied():
    decorator = rustgrad.compile(mode="fastest")
    with pytest.raises(RuntimeError, match="Unrecognized mode=fastest"):
        decorator(lambda x: x)


class Bogus:
    pass


@pytest.mark.parametrize("argument", ["fullgraph", "dynamic", "backend", "mode", "options", "name", "disable",
                                      "recompile_limit", "isolate_recompiles", "dynamic_shapes"])
def test_compile_refuses_arguments_of_the_wrong_type(argument):
    with pytest.raises(TypeError, match=f"compile\\(\\): argument '{argument}' must be"):
        rustgrad.compile(**{argument: Bogus()})
    with pytest.raises(TypeError, match=f"compile\\(\\): argument '{argument}' must be"):
        rustgrad.compile(nn.Linear(1, 1), **{argument: Bogus()})


HAS_CUDA = rustgrad.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rustgrad.cuda._unavailable_reason()))


@pytest.mark.cuda
@needs_gpu
def test_data_parallel_on_one_gpu_moves_the_inputs():
    rustgrad.manual_seed(0)
    module = nn.Linear(3, 2).to("cuda")
    wrapped = nn.DataParallel(module)
    assert wrapped.device_ids == [0] and wrapped.output_device == 0
    x = rustgrad.randn(4, 3)
    out = wrapped(x)
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.detach().cpu().numpy(), module(x.to("cuda")).detach().cpu().numpy())
    with pytest.raises(NotImplementedError, match="more than one device"):
        nn.DataParallel(module, device_ids=[0, 1])
