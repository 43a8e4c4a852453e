"""rustgrad.save / rustgrad.load in PyTorch's zip checkpoint format, both ways with real PyTorch."""

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import rustgrad
from rustgrad.serialization import _safetensors_format, _storage_types

torch = pytest.importorskip("torch")


def saved_by_rustgrad(obj):
    buf = io.BytesIO()
    rustgrad.save(obj, buf)
    buf.seek(0)
    return buf


def saved_by_torch(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def rustgrad_dtypes():
    """(storage type, rustgrad dtype, torch dtype) for every dtype of the table rustgrad has."""
    out = []
    for st in _storage_types.BY_STORAGE_NAME.values():
        try:
            dtype = st.rustgrad_dtype()
        except TypeError:
            continue
        out.append((st, dtype, getattr(torch, st.dtype_name)))
    return out


def sample_values(torch_dtype):
    values = torch.tensor([[0, 1, 2], [3, 250, 5]])
    if torch_dtype == torch.bool:
        return values % 2 == 1
    if torch_dtype.is_floating_point:
        return (values.to(torch.float64) * 0.75 - 1.5).to(torch_dtype)
    return values.to(torch_dtype)


def as_numpy(t):
    """Values of a torch or rustgrad tensor as float64/bool NumPy (bfloat16 has no NumPy type)."""
    if t.dtype in (torch.bfloat16, getattr(rustgrad, "bfloat16", None)):
        t = t.float()
    return t.detach().numpy()


def test_the_archive_has_pytorchs_records():
    names = zipfile.ZipFile(saved_by_rustgrad({"w": rustgrad.ones(2)})).namelist()
    assert names == [
        "archive/data.pkl",
        "archive/.format_version",
        "archive/.storage_alignment",
        "archive/byteorder",
        "archive/data/0",
        "archive/version",
        "archive/.data/serialization_id",
    ]


def test_storage_records_are_64_byte_aligned(tmp_path):
    path = tmp_path / "m.pt"
    rustgrad.save({"a": rustgrad.ones(3), "b": rustgrad.zeros(5, dtype=rustgrad.float64)}, path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if "/data/" in info.filename:
                start = info.header_offset + 30 + len(info.filename) + int.from_bytes(
                    raw[info.header_offset + 28 : info.header_offset + 30], "little"
                )
                assert start % 64 == 0
                assert raw[start : start + info.file_size] == zf.read(info)
    assert torch.load(path, mmap=True)["b"].tolist() == [0.0] * 5


def test_torch_loads_a_state_dict_with_weights_only():
    model = rustgrad.nn.Sequential(rustgrad.nn.Linear(3, 4), rustgrad.nn.ReLU(), rustgrad.nn.Linear(4, 2))
    sd = model.state_dict()
    back = torch.load(saved_by_rustgrad(sd), weights_only=True)
    assert isinstance(back, OrderedDict) and list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == torch.float32
        np.testing.assert_array_equal(back[k].numpy(), sd[k].numpy())
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ref.load_state_dict(back)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ref(torch.from_numpy(x)).detach().numpy(), model(rustgrad.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_torch_loads_every_dtype_rustgrad_has():
    for st, dtype, torch_dtype in rustgrad_dtypes():
        values = sample_values(torch_dtype)
        ours = rustgrad.tensor(values.float().numpy()).to(dtype)
        back = torch.load(saved_by_rustgrad({"t": ours}), weights_only=True)["t"]
        assert back.dtype == torch_dtype, st
        np.testing.assert_array_equal(as_numpy(back), as_numpy(values))


def test_rustgrad_loads_every_dtype_it_has_from_torch():
    for st, dtype, torch_dtype in rustgrad_dtypes():
        values = sample_values(torch_dtype)
        back = rustgrad.load(saved_by_torch({"t": values}))["t"]
        assert back.dtype == dtype, st
        np.testing.assert_array_equal(as_numpy(back), as_numpy(values))


def test_a_dtype_rustgrad_lacks_is_a_clear_type_error():
    missing = [st for st in _storage_types.BY_STORAGE_NAME.values() if st.dtype_name == "complex64"]
    assert missing, "the table names complex64"
    have = [row[0] for row in rustgrad_dtypes()]
    for st in _storage_types.BY_STORAGE_NAME.values():
        if st in have:
            continue
        buf = saved_by_torch({"t": torch.zeros(2, dtype=getattr(torch, st.dtype_name))})
        with pytest.raises(TypeError, match=f"torch.{st.storage_name}.*does not have"):
            rustgrad.load(buf)


def test_nested_containers_numbers_and_metadata_from_torch():
    layer = torch.nn.Linear(2, 3)
    obj = {
        "epoch": 7,
        "loss": float("nan"),
        "name": "run",
        "flags": (True, None),
        "steps": [1, 2.5, {3: "x"}],
        "model": layer.state_dict(),
        "dtype": torch.float64,
        "shape": torch.Size([2, 3]),
        "device": torch.device("cpu"),
        "bytes": b"\x00\x01",
        "set": {1, 2},
    }
    back = rustgrad.load(saved_by_torch(obj))
    assert back["epoch"] == 7 and np.isnan(back["loss"]) and back["name"] == "run"
    assert back["flags"] == (True, None) and back["steps"] == [1, 2.5, {3: "x"}]
    assert back["dtype"] is rustgrad.float64 and back["shape"] == (2, 3) and isinstance(back["shape"], rustgrad.Size)
    assert back["device"] == rustgrad.device("cpu") and back["bytes"] == b"\x00\x01" and back["set"] == {1, 2}
    assert isinstance(back["model"], OrderedDict) and back["model"]._metadata == layer.state_dict()._metadata
    np.testing.assert_array_equal(back["model"]["weight"].numpy(), layer.weight.detach().numpy())


def test_rustgrad_objects_come_back_from_torch_as_torch_objects():
    obj = {"dtype": rustgrad.int64, "shape": rustgrad.Size([4]), "device": rustgrad.device("cpu")}
    back = torch.load(saved_by_rustgrad(obj), weights_only=True)
    assert back == {"dtype": torch.int64, "shape": torch.Size([4]), "device": torch.device("cpu")}


def test_parameters_both_ways():
    p = rustgrad.nn.Parameter(rustgrad.ones(2, 2))
    frozen = rustgrad.nn.Parameter(rustgrad.zeros(3), requires_grad=False)
    back = torch.load(saved_by_rustgrad({"p": p, "f": frozen}), weights_only=True)
    assert isinstance(back["p"], torch.nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["f"], torch.nn.Parameter) and not back["f"].requires_grad
    again = rustgrad.load(saved_by_torch(back))
    assert isinstance(again["p"], rustgrad.nn.Parameter) and again["p"].requires_grad and again["p"].is_leaf
    assert isinstance(again["f"], rustgrad.nn.Parameter) and not again["f"].requires_grad
    grad_tensor = rustgrad.load(saved_by_torch({"g": torch.ones(2, requires_grad=True)}))["g"]
    assert grad_tensor.requires_grad and grad_tensor.is_leaf


def test_shared_storage_and_views_from_torch_stay_shared():
    base = torch.arange(12.0)
    obj = {"base": base, "middle": base[2:8].view(2, 3), "t": base.view(3, 4).t(), "step": base[::3]}
    back = rustgrad.load(saved_by_torch(obj))
    assert back["middle"].storage_offset() == 2 and back["t"].stride() == (1, 4)
    for k, v in obj.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    back["base"][3] = -1.0
    back["base"][6] = -2.0
    assert back["middle"][0, 1].item() == -1.0 and back["t"][2, 1].item() == -2.0 and back["step"][1].item() == -1.0


def test_shared_storage_from_rustgrad_is_written_once_and_shared_in_torch():
    base = rustgrad.arange(12.0)
    view = base[2:8].view(2, 3)
    transposed = base.view(3, 4).t()
    buf = saved_by_rustgrad({"base": base, "view": view, "t": transposed, "again": base})
    assert [n for n in zipfile.ZipFile(buf).namelist() if "/data/" in n] == ["archive/data/0"]
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert back["again"] is back["base"]
    assert back["view"].storage_offset() == 2 and back["t"].stride() == (1, 4)
    assert back["view"].untyped_storage().data_ptr() == back["base"].untyped_storage().data_ptr()
    back["base"][3] = 100.0
    assert back["view"][0, 1].item() == 100.0 and back["t"][3, 0].item() == 100.0


def test_only_the_used_part_of_a_storage_is_written():
    base = rustgrad.arange(100.0)
    buf = saved_by_rustgrad({"head": base[:10]})
    assert zipfile.ZipFile(buf).getinfo("archive/data/0").file_size == 40
    buf.seek(0)
    np.testing.assert_array_equal(torch.load(buf)["head"].numpy(), np.arange(10.0, dtype=np.float32))


def test_whole_module_round_trip_needs_weights_only_false(tmp_path):
    model = rustgrad.nn.Sequential(rustgrad.nn.Linear(3, 4), rustgrad.nn.Tanh(), rustgrad.nn.Linear(4, 1))
    path = tmp_path / "model.pt"
    rustgrad.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global: GLOBAL rustgrad.nn.modules"):
        rustgrad.load(path)
    back = rustgrad.load(path, weights_only=False)
    assert type(back) is rustgrad.nn.Sequential
    x = rustgrad.randn(2, 3)
    np.testing.assert_array_equal(back(x).detach().numpy(), model(x).detach().numpy())
    assert all(isinstance(p, rustgrad.nn.Parameter) and p.requires_grad for p in back.parameters())
    back(x).sum().backward()
    assert back[0].weight.grad is not None


def test_numpy_arrays_and_plain_objects_with_weights_only_false():
    obj = {"array": np.arange(6.0).reshape(2, 3), "complex": 1 + 2j, "counter": __import__("collections").Counter("aab")}
    buf = saved_by_rustgrad(obj)
    back = rustgrad.load(buf, weights_only=False)
    np.testing.assert_array_equal(back["array"], obj["array"])
    assert back["complex"] == 1 + 2j and back["counter"] == obj["counter"]
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        rustgrad.load(buf)
    buf.seek(0)
    np.testing.assert_array_equal(torch.load(buf, weights_only=False)["array"], obj["array"])


def test_optimizer_state_dict_both_ways():
    model = rustgrad.nn.Linear(3, 2)
    opt = rustgrad.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        model(rustgrad.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    sd = opt.state_dict()
    theirs = torch.load(saved_by_rustgrad(sd), weights_only=True)
    assert theirs["param_groups"][0]["lr"] == 0.01 and theirs["param_groups"][0]["betas"] == (0.9, 0.999)
    for i in (0, 1):
        for k in ("exp_avg", "exp_avg_sq", "step"):
            np.testing.assert_array_equal(theirs["state"][i][k].numpy(), sd["state"][i][k].numpy())
    back = rustgrad.load(saved_by_torch(theirs))
    fresh = rustgrad.optim.Adam(rustgrad.nn.Linear(3, 2).parameters(), lr=0.5)
    fresh.load_state_dict(back)
    assert fresh.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(fresh.state_dict()["state"][1]["exp_avg"].numpy(), sd["state"][1]["exp_avg"].numpy())


def test_old_safetensors_checkpoints_still_load(tmp_path):
    sd = OrderedDict([("w", rustgrad.randn(2, 3)), ("n", rustgrad.tensor(4))])
    old = tmp_path / "old_checkpoint.pt"  # the name says .pt: the first bytes decide the format
    _safetensors_format.save({"model": sd, "epoch": 3}, old)
    assert old.read_bytes()[:4] != b"PK\x03\x04"
    for source in (old, str(old), io.BytesIO(old.read_bytes())):
        back = rustgrad.load(source)
        assert back["epoch"] == 3 and list(back["model"]) == ["w", "n"]
        np.testing.assert_array_equal(back["model"]["w"].numpy(), sd["w"].numpy())


def test_safetensors_extension_and_save_file_load_file(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    rustgrad.save({"w": rustgrad.ones(2)}, tmp_path / "a.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes()[:4] != b"PK\x03\x04"
    tensors = {"w": rustgrad.randn(2, 3), "b": rustgrad.tensor([1, 2])}
    rustgrad.serialization.save_file(tensors, tmp_path / "b.safetensors", metadata={"note": "hi"})
    arrays = st.load_file(str(tmp_path / "b.safetensors"))
    np.testing.assert_array_equal(arrays["w"], tensors["w"].numpy())
    back = rustgrad.serialization.load_file(tmp_path / "b.safetensors", device="cpu")
    assert type(back) is dict and set(back) == {"w", "b"}
    np.testing.assert_array_equal(back["b"].numpy(), [1, 2])
    with pytest.raises(TypeError, match="metadata"):
        rustgrad.serialization.save_file(tensors, tmp_path / "c.safetensors", metadata={"n": 1})
    with pytest.raises(TypeError, match="not a tensor"):
        rustgrad.serialization.save_file({"x": 1}, tmp_path / "c.safetensors")


def test_paths_are_written_atomically(tmp_path):
    path = tmp_path / "ckpt.pt"
    rustgrad.save({"v": rustgrad.ones(1)}, path)
    with pytest.raises(Exception):
        rustgrad.save({"v": rustgrad.zeros(1), "bad": lambda: 0}, path)
    assert rustgrad.load(path)["v"].item() == 1.0
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_map_location():
    buf = saved_by_torch({"x": torch.arange(3.0)})
    for where in ("cpu", rustgrad.device("cpu"), {"cpu": "cpu"}, lambda storage, loc: storage, lambda s, loc: None):
        buf.seek(0)
        back = rustgrad.load(buf, map_location=where)
        assert back["x"].device.type == "cpu" and back["x"].tolist() == [0.0, 1.0, 2.0]
    seen = []
    buf.seek(0)
    rustgrad.load(buf, map_location=lambda storage, loc: seen.append((tuple(storage.shape), loc)))
    assert seen == [((3,), "cpu")]
    buf.seek(0)
    with pytest.raises(ValueError, match="Unsupported map_location"):
        rustgrad.load(buf, map_location=3)


def handmade_checkpoint(payload, records=None, prefix="archive"):
    """A zip checkpoint holding the given pickle bytes and storage records."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", payload)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, data in (records or {}).items():
            zf.writestr(f"{prefix}/data/{key}", data)
        zf.writestr(f"{prefix}/version", "3\n")
    buf.seek(0)
    return buf


def tensor_pickle(location="cpu", numel=4, offset=0, size=(4,), stride=(1,)):
    """A protocol-2 pickle of one float32 tensor, written as PyTorch writes it."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is _STORAGE:
                return ("storage", torch.FloatStorage, "0", location, numel)
            return None

    out = io.BytesIO()
    Pickler(out, protocol=2).dump({"t": _Reduce(offset, size, stride)})
    return out.getvalue()


_STORAGE = object()


class _Reduce:
    def __init__(self, offset, size, stride):
        self.args = (_STORAGE, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def test_cuda_locations_need_cuda_or_a_map_location():
    buf = handmade_checkpoint(tensor_pickle(location="cuda:0"), {"0": np.arange(4, dtype=np.float32).tobytes()})
    if not rustgrad.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
            rustgrad.load(buf)
    for where in ("cpu", {"cuda:0": "cpu"}, lambda s, loc: s):
        buf.seek(0)
        assert rustgrad.load(buf, map_location=where)["t"].tolist() == [0.0, 1.0, 2.0, 3.0]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


class Allowed:
    def __init__(self, value):
        self.value = value


def test_code_in_the_file_never_runs_with_weights_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"x": Evil()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError) as info:
        rustgrad.load(handmade_checkpoint(payload))
    message = str(info.value)
    assert message.startswith("Weights only load failed.")
    assert f"Trying to load unsupported GLOBAL {os.system.__module__}.system whose module" in message
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError) as theirs:
        torch.load(handmade_checkpoint(payload))
    assert message == str(theirs.value)


def test_safe_globals():
    payload = saved_by_rustgrad({"obj": Allowed(3)}).getvalue()
    with pytest.raises(pickle.UnpicklingError) as info:
        rustgrad.load(io.BytesIO(payload))
    with pytest.raises(pickle.UnpicklingError) as theirs:
        torch.load(io.BytesIO(payload))
    assert str(info.value) == str(theirs.value)
    assert "add_safe_globals([test_torch_checkpoint_format.Allowed])" in str(info.value)
    with rustgrad.serialization.safe_globals([Allowed]):
        assert rustgrad.serialization.get_safe_globals() == [Allowed]
        assert rustgrad.load(io.BytesIO(payload))["obj"].value == 3
    assert rustgrad.serialization.get_safe_globals() == []
    rustgrad.serialization.add_safe_globals([(Allowed, "test_torch_checkpoint_format.Allowed")])
    try:
        assert rustgrad.load(io.BytesIO(payload))["obj"].value == 3
    finally:
        rustgrad.serialization.clear_safe_globals()
    assert rustgrad.serialization.get_safe_globals() == []
    with pytest.raises(RuntimeError, match="explicit pickle_module"):
        rustgrad.load(io.BytesIO(payload), pickle_module=pickle)
    assert rustgrad.load(io.BytesIO(payload), pickle_module=pickle, weights_only=False)["obj"].value == 3


def test_hostile_and_truncated_files_raise():
    good = saved_by_rustgrad({"w": rustgrad.arange(8.0)}).getvalue()
    for cut in (len(good) // 2, len(good) - 10, 30):
        with pytest.raises(Exception):
            rustgrad.load(io.BytesIO(good[:cut]))
    with pytest.raises(RuntimeError, match="data.pkl"):
        rustgrad.load(handmade_checkpoint(b"", prefix="a/b"))
    with pytest.raises(pickle.UnpicklingError):
        rustgrad.load(handmade_checkpoint(b"\x80\x02garbage"))
    data = np.arange(4, dtype=np.float32).tobytes()
    with pytest.raises(RuntimeError, match="fewer than its 4 elements"):
        rustgrad.load(handmade_checkpoint(tensor_pickle(), {"0": data[:12]}))
    with pytest.raises(RuntimeError, match="out of bounds for storage"):
        rustgrad.load(handmade_checkpoint(tensor_pickle(offset=2), {"0": data}))
    with pytest.raises(RuntimeError, match="out of bounds for storage"):
        rustgrad.load(handmade_checkpoint(tensor_pickle(size=(2,), stride=(4,)), {"0": data}))
    with pytest.raises(RuntimeError, match="not a tuple of non-negative ints"):
        rustgrad.load(handmade_checkpoint(tensor_pickle(size=(-4,)), {"0": data}))
    with pytest.raises(RuntimeError, match="data/0"):
        rustgrad.load(handmade_checkpoint(tensor_pickle(), {}))
    ok = rustgrad.load(handmade_checkpoint(tensor_pickle(size=(2,), stride=(3,)), {"0": data}))
    assert ok["t"].tolist() == [0.0, 3.0]


def test_mmap(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"w": torch.arange(6.0).view(2, 3), "b": torch.ones(2, dtype=torch.float64)}, path)
    back = rustgrad.load(path, mmap=True)
    np.testing.assert_array_equal(back["w"].numpy(), np.arange(6.0).reshape(2, 3))
    back["w"][0, 0] = 9.0  # copy-on-write: the file keeps its values
    assert rustgrad.load(path)["w"][0, 0].item() == 0.0
    with pytest.raises(ValueError, match="f must be a file path in order to use the mmap argument"):
        rustgrad.load(io.BytesIO(path.read_bytes()), mmap=True)


def test_legacy_torch_format_is_refused_clearly():
    buf = io.BytesIO()
    torch.save({"x": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)
    buf.seek(0)
    with pytest.raises(NotImplementedError, match="legacy"):
        rustgrad.load(buf)


def test_pickle_load_args_warn_with_weights_only():
    with pytest.warns(UserWarning, match="pickle_load_args only works if `weights_only=False`."):
        rustgrad.load(saved_by_rustgrad({"x": 1}), encoding="latin1")


def test_save_arguments():
    with pytest.raises(NotImplementedError, match="_use_new_zipfile_serialization"):
        rustgrad.save({}, io.BytesIO(), _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="pickle_protocol"):
        rustgrad.save({}, io.BytesIO(), pickle_protocol=1)
    buf = io.BytesIO()
    rustgrad.save({"x": rustgrad.ones(2)}, buf, pickle_protocol=4)
    buf.seek(0)
    # (PyTorch's weights_only unpickler itself does not take protocol 4's FRAME opcode)
    assert torch.load(buf, weights_only=False)["x"].tolist() == [1.0, 1.0]
