"""``rustgrad.nn.utils.parametrizations``: ``weight_norm``, ``spectral_norm`` and ``orthogonal`` (in
``_orthogonal.py``) built on ``parametrize.register_parametrization``, as ``torch.nn.utils.parametrizations``."""

from ... import _C
from ...autograd import no_grad
from ...utils.hooks import RemovableHandle
from .. import functional as F
from ..modules.module import Module
from . import _orthogonal, parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# ----- weight norm ---------------------------------------------------------------------------------

def _norm_except_dim(v, dim):
    """The 2-norm of ``v`` over every dimension but ``dim``, kept as size-1 dimensions; ``dim=-1`` (PyTorch's
    "no dimension") gives the norm of the whole tensor, a 0-dim tensor."""
    if dim == -1:
        return v.norm(2)
    dim = dim + v.dim() if dim < 0 else dim
    others = tuple(d for d in range(v.dim()) if d != dim)
    return _C_linalg().vector_norm(v, 2, dim=others, keepdim=True) if others else v.abs()


def _C_linalg():
    import rustgrad  # the package's linalg (this module loads while the package does)
    return rustgrad.linalg


def _weight_norm(v, g, dim):
    """``v * (g / ||v||)``, the norm over every dimension of ``v`` but ``dim`` (PyTorch's ``_weight_norm``)."""
    return v * (g / _norm_except_dim(v, dim))


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrizes ``module.<name>`` as ``g * v / ||v||`` (the norm over every dimension but ``dim``;
    ``dim=None`` for the whole tensor), stored as ``parametrizations.<name>.original0`` (g) and ``original1``
    (v). State dicts of the older ``nn.utils.weight_norm`` (``<name>_g``, ``<name>_v``) still load."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def load_old_keys(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    handle = RemovableHandle(module._load_state_dict_pre_hooks)
    module._load_state_dict_pre_hooks[handle.id] = load_old_keys
    return module


# ----- spectral norm -------------------------------------------------------------------------------

class _SpectralNorm(Module):
    """``weight / sigma``, ``sigma`` the largest singular value of the weight (as a matrix with ``dim`` first)
    estimated by power iteration on the buffers ``_u``, ``_v`` (``n_power_iterations`` per training forward)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got "
                             f"{dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u = weight_mat.new_zeros(h).normal_(0, 1)
            v = weight_mat.new_zeros(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            # Start from a good estimate: 15 iterations now.
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        with no_grad():
            weight_mat = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat @ self._v, dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.T @ self._u, dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.dim() == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # Copies: the next power iteration updates the buffers in place, which the backward must not see.
        u = self._u.clone()
        v = self._v.clone()
        sigma = (u * (weight_mat @ v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def _default_spectral_dim(module):
    """1 for a transposed convolution (its weight is (in, out, ...)), else 0."""
    from ..modules import conv  # looked up late: nn.modules imports this package while it loads
    transposed = tuple(getattr(conv, name) for name in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
                       if hasattr(conv, name))
    return 1 if isinstance(module, transposed) else 0


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Reparametrizes ``module.<name>`` divided by its spectral norm (power iteration; buffers
    ``parametrizations.<name>.0._u`` and ``_v``). ``dim`` defaults to 1 for ConvTranspose, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, _C.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = _default_spectral_dim(module)
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ----- orthogonal ---------------------------------------------------------------------------------

def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrains ``module.<name>`` (a matrix or batch of matrices) to orthonormal columns (rows if wide).
    ``orthogonal_map``: "matrix_exp" (default for square), "cayley" or "householder" (default otherwise).
    With ``use_trivialization`` the parametrized value is ``base @ map(original)``, ``base`` a buffer set at
    registration (and on assignment) to the current value made orthogonal."""
    weight = getattr(module, name, None)
    if not isinstance(weight, _C.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.dim()} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.size(-2) == weight.size(-1) else "householder"
    if orthogonal_map not in _orthogonal.MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    parametrization = _orthogonal._Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, parametrization, unsafe=True)
    return module
