"""The summary protos ``SummaryWriter`` writes, built from tensors, arrays and Python values."""

import numpy as np
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.text import metadata as text_metadata

from ._png import encode_png


def to_numpy(value):
    """A NumPy array of a tensor (detached, on the CPU), an array, or a Python number or list."""
    from ... import Tensor

    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _scalar_value(value):
    array = to_numpy(value)
    if array.size != 1:
        raise AssertionError("scalar should be 0D")
    return array.reshape(())


def scalar(tag, value, new_style=False, double_precision=False):
    value = _scalar_value(value)
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
    plugin = SummaryMetadata.PluginData(plugin_name="scalars")
    metadata = SummaryMetadata(plugin_data=plugin)
    if double_precision:
        tensor = TensorProto(double_val=[float(value)], dtype="DT_DOUBLE")
    else:
        tensor = TensorProto(float_val=[float(value)], dtype="DT_FLOAT")
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


def tensorflow_bins():
    """TensorFlow's default histogram edges: +-1e-12 growing by 10% up to 1e20, and 0."""
    edges, edge = [], 1e-12
    while edge < 1e20:
        edges.append(edge)
        edge *= 1.1
    return [-e for e in reversed(edges)] + [0] + edges


def histogram(tag, values, bins="tensorflow", max_bins=None):
    values = to_numpy(values).astype(np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("The input has no element.")
    counts, edges = np.histogram(values, bins=tensorflow_bins() if bins == "tensorflow" else bins)
    if max_bins is not None and len(counts) > max_bins:
        # Merge runs of `group` neighbouring bins (the last run padded with empty bins).
        group = len(counts) // max_bins
        counts = np.pad(counts, (0, (-len(counts)) % group)).reshape(-1, group).sum(axis=1)
        edges = np.append(edges[:-1:group], edges[-1])
    occupied = np.flatnonzero(counts)
    first, last = int(occupied[0]), int(occupied[-1])
    # TensorBoard keeps only right edges: an empty bin before the first occupied one carries the
    # left edge of the support.
    if first > 0:
        counts, edges = counts[first - 1:last + 1], edges[first:last + 2]
    else:
        counts, edges = np.concatenate([[0], counts[:last + 1]]), edges[:last + 2]
    proto = HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                           sum_squares=values.dot(values), bucket_limit=edges.tolist(), bucket=counts.tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=proto)])


def _to_hwc(array, dataformats):
    """The image as (H, W, C) from the layout ``dataformats`` names (CHW, HWC, HW, ...)."""
    dataformats = dataformats.upper()
    if len(set(dataformats)) != len(dataformats) or array.ndim != len(dataformats):
        raise AssertionError(f"size of input tensor and input format are different. tensor shape: {array.shape}, "
                             f"input_format: {dataformats}")
    if dataformats == "HW":
        array = array[..., None]
        dataformats = "HWC"
    array = np.transpose(array, [dataformats.index(axis) for axis in "HWC"])
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return array


def _to_uint8(array):
    if array.dtype == np.uint8:
        return array
    # Floats are taken in [0, 1] and truncated to 0..255, as PyTorch's writer does.
    return np.clip(array.astype(np.float32) * 255, 0, 255).astype(np.uint8)


def image_from_hwc(tag, hwc_uint8):
    height, width, channels = hwc_uint8.shape
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=encode_png(hwc_uint8))
    return Summary(value=[Summary.Value(tag=tag, image=image)])


def image(tag, img, dataformats="CHW"):
    return image_from_hwc(tag, _to_uint8(_to_hwc(to_numpy(img), dataformats)))


def grid(images, dataformats="NCHW"):
    """A batch of images laid out in a near-square grid (8 per row at most), as (C, H, W)."""
    dataformats = dataformats.upper()
    if images.ndim != len(dataformats):
        raise AssertionError(f"size of input tensor and input format are different. tensor shape: {images.shape}, "
                             f"input_format: {dataformats}")
    images = np.transpose(images, [dataformats.index(axis) for axis in "NCHW"]) if "C" in dataformats else \
        np.transpose(images, [dataformats.index(axis) for axis in "NHW"])[:, None]
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    n, c, h, w = images.shape
    cols = min(n, 8)
    rows = -(-n // cols)
    canvas = np.zeros((c, h * rows, w * cols), dtype=images.dtype)
    for i in range(n):
        r, col = divmod(i, cols)
        canvas[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return canvas


def text(tag, text_string):
    metadata = text_metadata.create_summary_metadata(display_name=None, description=None)
    tensor = TensorProto(dtype="DT_STRING", string_val=[text_string.encode("utf-8")],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)])


def figure_to_hwc(figure):
    """The figure rendered (Agg) as an (H, W, 3) uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _hparam_value(name, value):
    from ... import Tensor

    if isinstance(value, Tensor):
        value = value.item()
    # bool is an int here, as in PyTorch's writer: True is logged as the number 1.
    if isinstance(value, (int, float)):
        return api_pb2.DATA_TYPE_FLOAT64, {"number_value": float(value)}
    if isinstance(value, str):
        return api_pb2.DATA_TYPE_STRING, {"string_value": value}
    raise ValueError(f"value should be one of int, float, str, bool, or torch.Tensor (hparam {name!r})")


def _plugin_summary(tag, plugin_data):
    metadata = hparams_metadata.create_summary_metadata(plugin_data)
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])


def hparams(hparam_dict, metric_dict, hparam_domain_discrete=None):
    """The experiment, session-start and session-end summaries of the HParams plugin."""
    from google.protobuf.struct_pb2 import ListValue, Value

    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError("hparam_dict and metric_dict should be dictionary.")
    hparam_domain_discrete = hparam_domain_discrete or {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing else")
    for key, values in hparam_domain_discrete.items():
        if key not in hparam_dict or not isinstance(values, list) or \
                not all(isinstance(v, type(hparam_dict[key])) for v in values):
            raise TypeError(f"parameter: hparam_domain_discrete[{key}] should be a list of same type as "
                            f"hparam_dict[{key}].")
    infos, session = [], plugin_data_pb2.SessionStartInfo()
    for name, value in hparam_dict.items():
        if value is None:
            continue
        data_type, field = _hparam_value(name, value)
        getattr(session.hparams[name], "MergeFrom")(Value(**field))
        info = api_pb2.HParamInfo(name=name, type=data_type)
        if name in hparam_domain_discrete:
            info.domain_discrete.CopyFrom(ListValue(values=[Value(**_hparam_value(name, v)[1])
                                                            for v in hparam_domain_discrete[name]]))
        infos.append(info)
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    version = hparams_metadata.PLUGIN_DATA_VERSION
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS)
    return (
        _plugin_summary(hparams_metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(
            experiment=experiment, version=version)),
        _plugin_summary(hparams_metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(
            session_start_info=session, version=version)),
        _plugin_summary(hparams_metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(
            session_end_info=end, version=version)),
    )
