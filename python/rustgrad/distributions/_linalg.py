"""The few matrix factorizations MultivariateNormal needs, as differentiable compositions of
tensor ops over batches of small matrices (one column or row per step): Cholesky, triangular
solves. rustgrad has no ``linalg.cholesky`` yet; these are private to the distributions."""

from .. import _C
from ..autograd.grad_mode import no_grad


def _columns_of_cholesky(a):
    """The columns of L (L L^T = a) and the pivots ``a_jj - |L_j,:j|^2`` before their sqrt."""
    n = a.shape[-1]
    columns, pivots = [], []
    for j in range(n):
        v = a[..., j:, j]
        if j > 0:
            previous = _C.stack(columns, -1)  # (..., n, j)
            v = v - (previous[..., j:, :] * previous[..., j:j + 1, :]).sum(-1)
        pivot = v[..., 0]
        pivots.append(pivot)
        d = pivot.sqrt()
        below = v[..., 1:] / d.unsqueeze(-1)
        head = _C.zeros(*a.shape[:-2], j, dtype=a.dtype, device=a.device)
        columns.append(_C.cat([head, d.unsqueeze(-1), below], -1))
    return columns, pivots


def cholesky(a):
    """The lower Cholesky factor of the symmetric positive-definite matrices ``a`` (..., n, n)."""
    columns, _ = _columns_of_cholesky(a)
    return _C.stack(columns, -1)


def cholesky_ok(a):
    """Per matrix: whether the Cholesky factorization succeeds (every pivot positive)."""
    with no_grad():
        _, pivots = _columns_of_cholesky(a.double())
        return (_C.stack(pivots, -1) > 0).all(-1)


def solve_lower(lower, b):
    """X with ``lower @ X = b`` for lower-triangular ``lower`` (..., n, n) and ``b`` (..., n, k)."""
    n = lower.shape[-1]
    rows = []
    for i in range(n):
        r = b[..., i, :]
        if i > 0:
            done = _C.stack(rows, -2)  # (..., i, k)
            r = r - (lower[..., i, :i].unsqueeze(-1) * done).sum(-2)
        rows.append(r / lower[..., i, i].unsqueeze(-1))
    return _C.stack(rows, -2)


def inverse_from_cholesky(lower):
    """(L L^T)^-1 from its Cholesky factor L."""
    n = lower.shape[-1]
    eye = _C.eye(n, dtype=lower.dtype, device=lower.device).expand(lower.shape)
    inv = solve_lower(lower, eye)  # L^-1
    return inv.transpose(-2, -1) @ inv
