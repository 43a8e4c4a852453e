"""AdaptiveLogSoftmaxWithLoss: the efficient softmax approximation of Grave et al. (a head over the
frequent classes plus one entry per cluster of rare classes, each cluster a low-rank projection)."""

from collections import namedtuple

import numpy as np

from ... import _C
from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Log-probabilities of targets under a two-level softmax: classes below ``cutoffs[0]`` are
    scored by the head, the others by their cluster's head entry plus their score within the
    cluster. Returns (per-sample target log-probability, mean negative log-likelihood)."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > (n_classes - 1)
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             "order, where each value is between 1 and n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, device=device, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, device=device, dtype=dtype),
                                        Linear(hsz, osz, bias=False, device=device, dtype=dtype)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_, target_):
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch dimension.")
            if input_.dim() != 2:
                raise RuntimeError("1D target tensor expects 2D input tensors, but found inputs with size",
                                   input_.size())
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError("0D target tensor expects 1D input tensors, but found inputs with size",
                                   input_.size())
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        is_batched = targ_dim > 0
        input = input_ if is_batched else input_.unsqueeze(0)
        target = target_ if is_batched else target_.unsqueeze(0)
        labels = target.detach().cpu().numpy().astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                               f"[{labels.min()}, {labels.max()}] were found. ")
        # The head entry of each sample: its class (shortlist) or its cluster's entry.
        cluster_of = np.searchsorted(np.array(self.cutoffs), labels, side="right")  # 0: shortlist
        head_entry = np.where(cluster_of == 0, labels, self.shortlist_size + cluster_of - 1)
        device = input.device
        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = head_logprob.gather(1, _C.from_numpy(head_entry).to(device).unsqueeze(1)).squeeze(1)
        for i in range(1, self.n_clusters + 1):
            rows = np.nonzero(cluster_of == i)[0]
            if len(rows) == 0:
                continue
            rows_t = _C.from_numpy(rows.astype(np.int64)).to(device)
            relative = _C.from_numpy(labels[rows] - self.cutoffs[i - 1]).to(device)
            cluster_logprob = F.log_softmax(self.tail[i - 1](input.index_select(0, rows_t)), dim=1)
            local = cluster_logprob.gather(1, relative.unsqueeze(1)).squeeze(1)
            output = output.index_add(0, rows_t, local)
        loss = (-output).mean()
        if not is_batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return _C.cat(parts, 1)

    def log_prob(self, input):
        """Log-probabilities of every class: (N, n_classes), or (n_classes,) for 1-D input."""
        is_batched = input.dim() > 1
        x = input if is_batched else input.unsqueeze(0)
        out = self._get_full_log_prob(x, self.head(x))
        return out if is_batched else out.squeeze(0)

    def predict(self, input):
        """The most likely class of each sample (the full distribution is only computed for the
        samples whose head argmax is a cluster)."""
        is_batched = input.dim() > 1
        x = input if is_batched else input.unsqueeze(0)
        head_output = self.head(x)
        output = head_output.argmax(1)
        in_cluster = (output >= self.shortlist_size).detach().cpu().numpy()
        if in_cluster.any():
            rows = np.nonzero(in_cluster)[0].astype(np.int64)
            rows_t = _C.from_numpy(rows).to(x.device)
            full = self._get_full_log_prob(x.index_select(0, rows_t), head_output.index_select(0, rows_t))
            classes = output.detach().cpu().numpy()
            classes[rows] = full.argmax(1).detach().cpu().numpy()
            output = _C.from_numpy(classes).to(x.device)
        return output if is_batched else output.squeeze(0)
