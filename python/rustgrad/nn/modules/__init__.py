"""The module classes of ``rustgrad.nn``."""

from .activation import (CELU, RReLU, Hardshrink, Softshrink, Softmax2d)  # issue-16 nn coverage
from .activation import (ELU, GELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax,
                         Mish, MultiheadAttention, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softmin, Softplus,
                         Softsign, Tanh, Tanhshrink, Threshold)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear, NonDynamicallyQuantizableLinear
from .distance import CosineSimilarity, PairwiseDistance
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                   MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from .module import Module
from .instancenorm import InstanceNorm1d, InstanceNorm2d
from .normalization import GroupNorm, LayerNorm
from .padding import ConstantPad2d, ZeroPad2d
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .pooling import AdaptiveMaxPool1d, AdaptiveMaxPool2d
from .fold import Fold, Unfold
from .sparse import Embedding
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "Module", "Linear", "Identity", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d",
    "BatchNorm2d", "LayerNorm", "Embedding", "Dropout", "ReLU", "ReLU6", "LeakyReLU", "GELU", "ELU", "SiLU",
    "Softplus", "Hardtanh",
    "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss", "BCELoss", "SELU", "Mish", "Hardswish",
    "Hardsigmoid", "LogSigmoid", "Tanhshrink", "Softsign", "Threshold", "GLU", "PReLU", "Softmin", "SmoothL1Loss",
    "HuberLoss", "KLDivLoss", "CosineSimilarity", "PairwiseDistance", "ConstantPad2d", "ZeroPad2d",
    "MultiheadAttention", "NonDynamicallyQuantizableLinear", "Transformer", "TransformerEncoder",
    "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "Conv1d", "ConvTranspose2d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "PixelShuffle", "PixelUnshuffle", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
]
__all__ += [
    "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
    "MultiLabelSoftMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss", "MultiMarginLoss",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Fold", "Unfold",
]

# issue-16 nn coverage: the layers added for PyTorch parity
from .batchnorm import BatchNorm3d, SyncBatchNorm  # noqa: E402
from .channelshuffle import ChannelShuffle  # noqa: E402
from .conv import Conv3d, ConvTranspose1d, ConvTranspose3d  # noqa: E402
from .dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout  # noqa: E402
from .instancenorm import InstanceNorm3d  # noqa: E402
from .linear import Bilinear  # noqa: E402
from .loss import CTCLoss, MultiLabelMarginLoss, NLLLoss2d, TripletMarginWithDistanceLoss  # noqa: E402
from .normalization import CrossMapLRN2d, LocalResponseNorm, RMSNorm  # noqa: E402
from .padding import (  # noqa: E402
    CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
    ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad3d,
)
from .param_containers import Container, ParameterDict, ParameterList  # noqa: E402
from .pooling import (  # noqa: E402
    AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, FractionalMaxPool2d, FractionalMaxPool3d, LPPool1d, LPPool2d,
    LPPool3d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d,
)
from .sparse import EmbeddingBag  # noqa: E402
from .data_parallel import DataParallel  # noqa: E402
from .adaptive import AdaptiveLogSoftmaxWithLoss  # noqa: E402
from .linear_cross_entropy import LinearCrossEntropyLoss, LinearCrossEntropyOptions  # noqa: E402

__all__ += [
    "CELU", "RReLU", "Hardshrink", "Softshrink", "Softmax2d", "BatchNorm3d", "SyncBatchNorm", "ChannelShuffle",
    "Conv3d", "ConvTranspose1d", "ConvTranspose3d", "AlphaDropout", "Dropout1d", "Dropout2d", "Dropout3d",
    "FeatureAlphaDropout", "InstanceNorm3d", "Bilinear", "CTCLoss", "MultiLabelMarginLoss", "NLLLoss2d",
    "TripletMarginWithDistanceLoss", "CrossMapLRN2d", "LocalResponseNorm", "RMSNorm", "CircularPad1d",
    "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d",
    "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad3d",
    "Container", "ParameterDict", "ParameterList", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "AvgPool3d",
    "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "MaxPool3d", "MaxUnpool1d",
    "MaxUnpool2d", "MaxUnpool3d", "EmbeddingBag", "DataParallel", "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions", "AdaptiveLogSoftmaxWithLoss",
]
