"""rustgrad.save / rustgrad.load: safetensors files, round trips, atomic writes, hostile files."""

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict

import numpy as np
import pytest

import rustgrad
import rustgrad.optim as optim


def t64(values):
    return rustgrad.tensor(np.asarray(values, dtype=np.float64))


def assert_same(a, b):
    assert isinstance(b, rustgrad.Tensor)
    assert a.dtype == b.dtype
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def sample_state_dict():
    return OrderedDict(
        [
            ("fc1.weight", rustgrad.randn(4, 3)),
            ("fc1.bias", rustgrad.zeros(4, dtype=rustgrad.float64)),
            ("bn.num_batches_tracked", rustgrad.tensor(7)),
            ("mask", rustgrad.tensor([True, False, True])),
            ("empty", rustgrad.zeros(0, 5)),
            ("scalar", rustgrad.tensor(2.5, dtype=rustgrad.float64)),
        ]
    )


def test_state_dict_round_trip(tmp_path):
    sd = sample_state_dict()
    path = tmp_path / "model.safetensors"
    rustgrad.save(sd, path)
    back = rustgrad.load(path)
    assert isinstance(back, OrderedDict)
    assert list(back) == list(sd)
    for k in sd:
        assert_same(sd[k], back[k])
    assert back["mask"].dtype == rustgrad.bool and back["bn.num_batches_tracked"].dtype == rustgrad.int64


def test_str_path_and_plain_dict(tmp_path):
    sd = {"b": t64([1.0]), "a": t64([2.0, 3.0])}
    rustgrad.save(sd, str(tmp_path / "x.safetensors"))
    back = rustgrad.load(str(tmp_path / "x.safetensors"))
    assert type(back) is dict and list(back) == ["b", "a"]


def test_files_open_in_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    sd = sample_state_dict()
    path = tmp_path / "model.safetensors"
    rustgrad.save(sd, path)
    arrays = st.load_file(str(path))
    assert set(arrays) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(arrays[k], v.numpy())
        assert arrays[k].shape == tuple(v.shape)
    assert arrays["fc1.weight"].dtype == np.float32 and arrays["mask"].dtype == np.bool_
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata()["format"] == "pt"


def test_safetensors_files_from_elsewhere_load(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ids": np.array([1, -2, 3], dtype=np.int64),
        "half": np.array([1.5, -2.0], dtype=np.float16),
        "i32": np.array([-7, 9], dtype=np.int32),
    }
    path = tmp_path / "other.safetensors"
    st.save_file(arrays, str(path))
    back = rustgrad.load(path)
    assert isinstance(back, OrderedDict) and set(back) == set(arrays)
    np.testing.assert_array_equal(back["w"].numpy(), arrays["w"])
    np.testing.assert_array_equal(back["ids"].numpy(), arrays["ids"])
    assert back["half"].dtype == rustgrad.float16
    np.testing.assert_array_equal(back["half"].numpy(), [1.5, -2.0])
    assert back["i32"].dtype == rustgrad.int32
    np.testing.assert_array_equal(back["i32"].numpy(), [-7, 9])


def test_non_contiguous_and_view_tensors(tmp_path):
    base = rustgrad.arange(24, dtype=rustgrad.float64).reshape(4, 6)
    t = base.t()
    s = base[1:3, ::2]
    rustgrad.save({"t": t, "s": s}, tmp_path / "v.safetensors")
    back = rustgrad.load(tmp_path / "v.safetensors")
    np.testing.assert_array_equal(back["t"].numpy(), base.numpy().T)
    np.testing.assert_array_equal(back["s"].numpy(), base.numpy()[1:3, ::2])
    assert back["t"].is_contiguous()


def test_every_dtype_round_trips_exactly(tmp_path):
    values = {
        "f32": rustgrad.tensor(np.array([1e-30, -3.5, np.inf, np.nan], dtype=np.float32)),
        "f64": rustgrad.tensor(np.array([np.pi, -0.0, 1e300], dtype=np.float64)),
        "i64": rustgrad.tensor(np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64)),
        "bool": rustgrad.tensor(np.array([[True, False], [False, True]])),
    }
    rustgrad.save(values, tmp_path / "d.safetensors")
    back = rustgrad.load(tmp_path / "d.safetensors")
    for k, v in values.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())


STORAGE_DTYPES = ["float16", "bfloat16", "uint8", "int8", "int16", "int32"]


def test_storage_dtypes_round_trip(tmp_path):
    values = {name: rustgrad.tensor([[0.1, -2.5, 7.0], [255.0, 65504.0, -1.0]]).to(getattr(rustgrad, name))
              for name in STORAGE_DTYPES}
    rustgrad.save(values, tmp_path / "s.safetensors")
    back = rustgrad.load(tmp_path / "s.safetensors")
    for k, v in values.items():
        assert back[k].dtype == v.dtype
        assert back[k].tolist() == v.tolist()


def test_storage_dtypes_from_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {name: np.array([[1, -2, 3], [100, 0, 7]]).astype(name) for name in ("float16", "int8", "int16", "int32")}
    arrays["uint8"] = np.array([0, 200, 255], dtype=np.uint8)
    st.save_file(arrays, str(tmp_path / "n.safetensors"))
    back = rustgrad.load(tmp_path / "n.safetensors")
    for k, a in arrays.items():
        assert back[k].dtype == getattr(rustgrad, k)
        np.testing.assert_array_equal(back[k].numpy(), a)
    # Files we write open there with the same dtypes (bfloat16 through torch, which has one).
    mine = {k: rustgrad.from_numpy(a) for k, a in arrays.items()}
    rustgrad.save(mine, tmp_path / "m.safetensors")
    again = st.load_file(str(tmp_path / "m.safetensors"))
    for k, a in arrays.items():
        assert again[k].dtype == a.dtype
        np.testing.assert_array_equal(again[k], a)
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    bf = torch.tensor([0.1, -3.0, 1e38, 7.0], dtype=torch.bfloat16)
    st_torch.save_file({"bf": bf}, str(tmp_path / "bf.safetensors"))
    ours = rustgrad.load(tmp_path / "bf.safetensors")["bf"]
    assert ours.dtype == rustgrad.bfloat16 and ours.tolist() == bf.tolist()
    rustgrad.save({"bf": ours}, tmp_path / "bf2.safetensors")
    assert st_torch.load_file(str(tmp_path / "bf2.safetensors"))["bf"].tolist() == bf.tolist()


def test_nested_optimizer_checkpoint(tmp_path):
    a = rustgrad.zeros(3, dtype=rustgrad.float64, requires_grad=True)
    b = rustgrad.zeros(2, 2, dtype=rustgrad.float64, requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, amsgrad=True)
    for s in range(2):
        a.grad = rustgrad.ones(3, dtype=rustgrad.float64) * (s + 1)
        b.grad = rustgrad.ones(2, 2, dtype=rustgrad.float64)
        opt.step()
    ckpt = {
        "epoch": 3,
        "loss": 0.25,
        "best": float("inf"),
        "name": "run-1",
        "done": False,
        "note": None,
        "model": OrderedDict([("w", a.detach()), ("b", b.detach())]),
        "optimizer": opt.state_dict(),
        "history": [1.0, 0.5, (2, "x")],
    }
    path = tmp_path / "ckpt.safetensors"
    rustgrad.save(ckpt, path)
    back = rustgrad.load(path)
    assert back["epoch"] == 3 and back["loss"] == 0.25 and back["best"] == float("inf")
    assert back["name"] == "run-1" and back["done"] is False and back["note"] is None
    assert back["history"] == [1.0, 0.5, (2, "x")]
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == ["w", "b"]
    osd, orig = back["optimizer"], opt.state_dict()
    assert sorted(osd["state"]) == [0, 1]  # int keys survive
    assert osd["param_groups"] == orig["param_groups"]
    assert osd["param_groups"][0]["betas"] == (0.9, 0.999)
    for i in (0, 1):
        for k, v in orig["state"][i].items():
            assert_same(v, osd["state"][i][k])

    # Tensor names are path-like, and the file opens in the safetensors package.
    st = pytest.importorskip("safetensors.numpy")
    names = set(st.load_file(str(path)))
    assert {"model.w", "optimizer.state.0.exp_avg", "optimizer.state.1.max_exp_avg_sq"} <= names


def test_shared_tensors_come_back_shared(tmp_path):
    w = t64([1.0, 2.0])
    rustgrad.save({"enc": w, "dec": w, "other": [w]}, tmp_path / "s.safetensors")
    back = rustgrad.load(tmp_path / "s.safetensors")
    assert back["enc"] is back["dec"] and back["other"][0] is back["enc"]


def test_requires_grad_is_kept(tmp_path):
    p = rustgrad.zeros(2, requires_grad=True)
    rustgrad.save({"p": p, "q": rustgrad.ones(2)}, tmp_path / "g.safetensors")
    back = rustgrad.load(tmp_path / "g.safetensors")
    assert back["p"].requires_grad and back["p"].is_leaf and not back["q"].requires_grad


def test_file_objects():
    sd = {"x": t64([1.0, 2.0])}
    buf = io.BytesIO()
    rustgrad.save(sd, buf)
    buf.seek(0)
    assert buf.getvalue()[:4] == b"PK\x03\x04"  # PyTorch's zip format for file objects
    back = rustgrad.load(buf)
    assert_same(sd["x"], back["x"])


def test_map_location(tmp_path):
    rustgrad.save({"x": t64([1.0])}, tmp_path / "m.safetensors")
    assert rustgrad.load(tmp_path / "m.safetensors", map_location="cpu")["x"].device.type == "cpu"
    assert rustgrad.load(tmp_path / "m.safetensors", map_location=lambda t, loc: t * 2)["x"].item() == 2.0
    assert rustgrad.load(tmp_path / "m.safetensors", weights_only=False)["x"].item() == 1.0


def test_unsupported_objects_are_refused(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match="cannot store an object of type"):
        rustgrad.save({"f": lambda: 0}, path)
    with pytest.raises(TypeError, match="dict key"):
        rustgrad.save({t64([1.0]): 1}, path)
    assert not path.exists()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file or directory"):
        rustgrad.load(tmp_path / "nope.safetensors")
    with pytest.raises(RuntimeError, match="Parent directory .* does not exist"):
        rustgrad.save({"x": t64([1.0])}, tmp_path / "no" / "dir" / "x.safetensors")


# ----- atomic writes --------------------------------------------------------------------------


def temp_leftovers(d):
    return [n for n in os.listdir(d) if n.endswith(".tmp")]


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "a.safetensors"
    rustgrad.save({"x": t64([1.0])}, path)
    rustgrad.save({"y": t64([2.0, 3.0])}, path)
    assert list(rustgrad.load(path)) == ["y"]
    assert temp_leftovers(tmp_path) == []


def test_failed_rename_keeps_the_target_and_removes_the_temp(tmp_path):
    # The target is a non-empty directory: everything is written, then the rename fails.
    target = tmp_path / "ckpt.safetensors"
    target.mkdir()
    (target / "keep").write_text("precious")
    with pytest.raises(OSError):
        rustgrad.save({"x": rustgrad.zeros(1000)}, target)
    assert (target / "keep").read_text() == "precious"
    assert temp_leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_failed_write_keeps_the_old_file(tmp_path):
    # A save that fails part-way through writing (the file-size limit is hit) leaves the previous
    # checkpoint byte-for-byte intact and no temporary file behind.
    path = tmp_path / "ckpt.safetensors"
    rustgrad.save({"old": t64(np.arange(10.0))}, path)
    old_bytes = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, signal
        import rustgrad
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            rustgrad.save({{"big": rustgrad.zeros(1 << 20)}}, {str(path)!r})
        except OSError as e:
            print("OSError", e)
        else:
            print("saved")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OSError"), out.stdout + out.stderr
    assert path.read_bytes() == old_bytes
    assert temp_leftovers(tmp_path) == []
    assert list(rustgrad.load(path)) == ["old"]


# ----- hostile and corrupt files --------------------------------------------------------------


def file_bytes(header, data=b"", length=None):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data


def good_header():
    return {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


HOSTILE = {
    "empty file": (b"", "fewer than the 8-byte"),
    "seven bytes": (b"\x01\x02\x03\x04\x05\x06\x07", "fewer than the 8-byte"),
    "absurd header length": (struct.pack("<Q", 2**63) + b"{}", "above the safetensors limit"),
    "header longer than file": (file_bytes(good_header(), b"\0" * 8, length=10_000), "only"),
    "truncated data": (file_bytes(good_header(), b"\0" * 5), "past the end of the data section"),
    "offsets past the end": (
        file_bytes({"a": {"dtype": "F32", "shape": [2 ** 30], "data_offsets": [0, 2 ** 32]}}, b"\0" * 8),
        "past the end",
    ),
    "size disagrees with dtype": (
        file_bytes({"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs 16 bytes",
    ),
    "size disagrees with shape": (
        file_bytes({"a": {"dtype": "F32", "shape": [3, 1], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs 12 bytes",
    ),
    "overlapping": (
        file_bytes(
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
        "overlap",
    ),
    "misordered with a gap": (
        file_bytes(
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            b"\0" * 12,
        ),
        "belong to no tensor",
    ),
    "reversed offsets": (
        file_bytes({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, b"\0" * 8),
        "run backwards",
    ),
    "trailing bytes": (file_bytes(good_header(), b"\0" * 16), "trailing bytes"),
    "unknown dtype": (
        file_bytes({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "dtype 'Q7'",
    ),
    "unsupported dtype": (
        file_bytes({"a": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}}, b"\0" * 8),
        "cannot load",
    ),
    "shape overflow": (
        file_bytes({"a": {"dtype": "F64", "shape": [2 ** 62, 2 ** 62], "data_offsets": [0, 8]}}, b"\0" * 8),
        "overflows",
    ),
    "negative dim": (
        file_bytes({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "non-negative integers",
    ),
    "missing field": (file_bytes({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "no 'data_offsets'"),
    "not json": (file_bytes(b"{this is not json}  "), "not valid JSON"),
    "not utf-8": (file_bytes(b"\xff\xfe\xfd\xfc"), "UTF-8"),
    "not an object": (file_bytes([1, 2, 3]), "not a JSON object"),
    "bad metadata": (file_bytes({"__metadata__": {"k": 5}}), "strings to strings"),
    "deep nesting": (file_bytes(b"[" * 50_000), "not valid JSON"),
    "garbage structure": (
        file_bytes({"__metadata__": {"rustgrad.structure": "{{{"}}),
        "structure metadata is not valid JSON",
    ),
    "dangling tensor reference": (
        file_bytes({"__metadata__": {"rustgrad.structure": json.dumps({"v": 1, "root": {"T": "ghost"}})}}),
        "does not hold",
    ),
    "deep structure": (
        file_bytes({"__metadata__": {"rustgrad.structure": '{"v": 1, "root": ' + '{"L": [' * 5000 + "]}" * 5000 + "}"}}),
        "structure metadata",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_raises_a_clear_error_quickly(case, tmp_path):
    data, needle = HOSTILE[case]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(data)
    start = time.perf_counter()
    with pytest.raises(RuntimeError) as info:
        rustgrad.load(path)
    assert time.perf_counter() - start < 2.0
    assert needle in str(info.value), str(info.value)


def test_huge_claims_allocate_nothing(tmp_path):
    # A header claiming a 64 GiB tensor in a tiny file is refused before any allocation: in a
    # process whose address space is capped at a few GiB the load must still fail cleanly.
    path = tmp_path / "huge.safetensors"
    path.write_bytes(
        file_bytes({"a": {"dtype": "F64", "shape": [2 ** 33], "data_offsets": [0, 2 ** 36]}}, b"\0" * 64)
    )
    script = textwrap.dedent(
        f"""
        import resource
        import rustgrad
        limit = 6 << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            rustgrad.load({str(path)!r})
        except RuntimeError as e:
            print("refused:", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused:") and "past the end" in out.stdout, out.stdout + out.stderr


def test_a_bare_tensor_and_cycles(tmp_path):
    t = t64([[1.0, 2.0]])
    rustgrad.save(t, tmp_path / "t.safetensors")
    assert_same(t, rustgrad.load(tmp_path / "t.safetensors"))
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="reference cycle"):
        rustgrad.save(cyclic, tmp_path / "c.safetensors")


@pytest.mark.parametrize(
    "structure",
    [
        '{"v": "1", "root": null}',
        '{"v": 1, "root": {"L": "abc"}}',
        '{"v": 1, "root": {"D": [[[1], 2]]}}',
        '{"v": 1, "root": {"D": [[{"U": [[1]]}, 2]]}}',
        '{"v": 1, "root": {"X": []}}',
        '{"v": 1, "root": {"F": "big"}}',
        '{"v": 1, "root": []}',
        '{"v": 1}',
        '{"v": 99, "root": null}',
    ],
)
def test_corrupt_structure_metadata(structure, tmp_path):
    path = tmp_path / "s.safetensors"
    path.write_bytes(file_bytes({"__metadata__": {"rustgrad.structure": structure}}))
    with pytest.raises(RuntimeError, match="rustgrad.load"):
        rustgrad.load(path)


@pytest.mark.cuda
@pytest.mark.skipif(not rustgrad.cuda.is_available(), reason="no usable CUDA device")
def test_cuda_tensors_in_the_torch_format():
    x = rustgrad.arange(6.0, device="cuda").reshape(2, 3)
    buf = io.BytesIO()
    rustgrad.save({"x": x, "t": x.t(), "p": rustgrad.nn.Parameter(x.clone())}, buf)
    buf.seek(0)
    back = rustgrad.load(buf)
    assert back["x"].device.type == "cuda" and back["x"].tolist() == x.tolist()
    assert back["t"].device.type == "cuda" and back["t"].tolist() == x.t().tolist()
    assert isinstance(back["p"], rustgrad.nn.Parameter) and back["p"].device.type == "cuda"
    buf.seek(0)
    on_cpu = rustgrad.load(buf, map_location="cpu")
    assert on_cpu["x"].device.type == "cpu" and on_cpu["x"].tolist() == x.tolist()
