"""rustgrad.utils.tensorboard.SummaryWriter: the event files it writes, read back with TensorBoard's
EventAccumulator and compared with what torch.utils.tensorboard writes for the same calls."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

import rustgrad

tensorboard = pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402

from rustgrad.utils.tensorboard import SummaryWriter  # noqa: E402


def _read(path):
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0,
                                                              "tensors": 0})
    accumulator.Reload()
    return accumulator


def _decode_png(data):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def _log_everything(lib, writer_cls, log_dir):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1000).astype(np.float32)
    image = rng.random((3, 6, 5)).astype(np.float32)
    batch = rng.random((5, 1, 4, 3)).astype(np.float32)
    with writer_cls(log_dir) as writer:
        for step in range(3):
            writer.add_scalar("loss/train", 1.0 / (step + 1), step)
            writer.add_scalar("tensor_scalar", lib.tensor(float(step) * 2), step)
        writer.add_scalars("run", {"a": 1.5, "b": 2.5}, 7)
        writer.add_histogram("weights", lib.tensor(values), 1)
        writer.add_histogram("weights_fd", values, 2, bins="fd")
        writer.add_histogram("weights_coarse", values, 3, max_bins=30)
        writer.add_image("image", lib.tensor(image), 4)
        writer.add_image("image_hwc", (image.transpose(1, 2, 0) * 255).astype(np.uint8), 5, dataformats="HWC")
        writer.add_image("gray", image[0], 5, dataformats="HW")
        writer.add_images("batch", lib.tensor(batch), 6)
        writer.add_text("notes", "hello **tensorboard**", 8)


def test_events_match_pytorchs_writer(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    _log_everything(rustgrad, SummaryWriter, tmp_path / "ours")
    _log_everything(torch, TorchWriter, tmp_path / "theirs")
    ours, theirs = _read(tmp_path / "ours"), _read(tmp_path / "theirs")
    assert ours.Tags() == theirs.Tags()
    for tag in theirs.Tags()["scalars"]:
        assert [(e.step, e.value) for e in ours.Scalars(tag)] == [(e.step, e.value) for e in theirs.Scalars(tag)]
    for tag in theirs.Tags()["histograms"]:
        (a,), (b,) = ours.Histograms(tag), theirs.Histograms(tag)
        assert a.step == b.step
        for field in ("min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket"):
            np.testing.assert_allclose(getattr(a.histogram_value, field), getattr(b.histogram_value, field),
                                       rtol=1e-6, err_msg=f"{tag}.{field}")
    for tag in theirs.Tags()["images"]:
        (a,), (b,) = ours.Images(tag), theirs.Images(tag)
        assert (a.step, a.width, a.height) == (b.step, b.width, b.height)
        np.testing.assert_array_equal(_decode_png(a.encoded_image_string), _decode_png(b.encoded_image_string))
    for tag in theirs.Tags()["tensors"]:
        (a,), (b,) = ours.Tensors(tag), theirs.Tensors(tag)
        assert a.step == b.step and a.tensor_proto == b.tensor_proto
        assert ours.SummaryMetadata(tag) == theirs.SummaryMetadata(tag)
    # add_scalars: one run per tag, under the main tag
    for run in ("run_a", "run_b"):
        a, b = _read(tmp_path / "ours" / run), _read(tmp_path / "theirs" / run)
        assert [(e.step, e.value) for e in a.Scalars("run")] == [(e.step, e.value) for e in b.Scalars("run")]


def test_hparams_match_pytorchs_writer(tmp_path):
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    hparams = {"lr": 0.01, "batch": 32, "optimizer": "adam", "nesterov": True}
    for name, cls in (("ours", SummaryWriter), ("theirs", TorchWriter)):
        with cls(tmp_path / name) as writer:
            writer.add_hparams(hparams, {"hparam/loss": 0.25}, hparam_domain_discrete={"optimizer": ["adam", "sgd"]},
                               run_name="trial", global_step=3)
    ours, theirs = _read(tmp_path / "ours" / "trial"), _read(tmp_path / "theirs" / "trial")
    content_ours, content_theirs = ours.PluginTagToContent("hparams"), theirs.PluginTagToContent("hparams")
    assert sorted(content_ours) == sorted(content_theirs)
    experiment = hparams_metadata.parse_experiment_plugin_data(content_ours[hparams_metadata.EXPERIMENT_TAG])
    assert experiment == hparams_metadata.parse_experiment_plugin_data(content_theirs[hparams_metadata.EXPERIMENT_TAG])
    start = hparams_metadata.parse_session_start_info_plugin_data(
        content_ours[hparams_metadata.SESSION_START_INFO_TAG])
    assert start.hparams["lr"].number_value == 0.01 and start.hparams["optimizer"].string_value == "adam"
    assert start == hparams_metadata.parse_session_start_info_plugin_data(
        content_theirs[hparams_metadata.SESSION_START_INFO_TAG])
    assert [(e.step, e.value) for e in ours.Scalars("hparam/loss")] == [(3, 0.25)]


def test_hparams_bad_values(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="value should be one of int, float, str, bool, or torch.Tensor"):
            writer.add_hparams({"layers": [1, 2]}, {"loss": 1.0})


def test_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as writer:
        writer.add_figure("plot", figure, 2)
        assert not plt.fignum_exists(figure.number), "close=True closes the figure"
        writer.add_figure("plots", [plt.figure(figsize=(2, 1), dpi=50) for _ in range(2)], 3)
    (event,) = _read(tmp_path).Images("plot")
    assert (event.step, event.width, event.height) == (2, 100, 50)
    pixels = _decode_png(event.encoded_image_string)
    assert pixels.shape == (50, 100, 3) and pixels.min() < 128 < pixels.max()
    (grid,) = _read(tmp_path).Images("plots")
    assert (grid.width, grid.height) == (200, 50)


def test_log_dir_default_suffix_and_purge_step(tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)
    writer = SummaryWriter(comment="_trial", filename_suffix=".v1")
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    log_dir = writer.get_logdir()
    assert log_dir.startswith("runs" + os.sep) and log_dir.endswith("_" + socket.gethostname() + "_trial")
    (event_file,) = os.listdir(log_dir)
    assert event_file.startswith("events.out.tfevents.") and event_file.endswith(".v1")
    # A restart at step 2 hides the steps >= 2 of the earlier run.
    run = tmp_path / "purged"
    with SummaryWriter(run) as first:
        for step in range(4):
            first.add_scalar("x", float(step), step)
    with SummaryWriter(run, purge_step=2) as second:
        second.add_scalar("x", 20.0, 2)
    assert [(e.step, e.value) for e in _read(run).Scalars("x")] == [(0, 0.0), (1, 1.0), (2, 20.0)]


def test_flush_makes_events_readable(tmp_path):
    writer = SummaryWriter(tmp_path, flush_secs=10000)
    writer.add_scalar("x", 3.0, 1)
    writer.flush()
    assert [(e.step, e.value) for e in _read(tmp_path).Scalars("x")] == [(1, 3.0)]
    writer.close()


def test_bad_inputs(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(AssertionError, match="scalar should be 0D"):
            writer.add_scalar("x", rustgrad.ones(3))
        with pytest.raises(AssertionError, match="size of input tensor and input format are different"):
            writer.add_image("i", rustgrad.ones(3, 4), dataformats="CHW")
        with pytest.raises(ValueError, match="The input has no element."):
            writer.add_histogram("h", rustgrad.ones(0))


def test_import_error_names_the_extra(tmp_path):
    # A Python where importing tensorboard fails: the error names the extra to install.
    script = ("import sys; sys.modules['tensorboard'] = None\n"
              "try:\n    import rustgrad.utils.tensorboard\nexcept ImportError as e:\n    print(e)\n")
    python_path = os.pathsep.join([os.path.dirname(os.path.dirname(rustgrad.__file__)),
                                   os.environ.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": python_path})
    assert "pip install rustgrad[tensorboard]" in out.stdout
