"""The ``orthogonal`` parametrization: a matrix (or batch) mapped onto the orthogonal matrices (orthonormal
columns, or rows when it is wide) by the matrix exponential or the Cayley map of a skew-symmetric matrix, or
by a product of Householder reflectors.

The maps are compositions of differentiable ops (``matmul``, ``tril``), except the Cayley map's linear solve,
an autograd Function. The decompositions that only ``right_inverse`` needs (QR, LAPACK's ``geqrf``) run on
NumPy without gradient.
"""

import math

import numpy as np

from ... import _C
from ...autograd import Function, no_grad
from ..modules.module import Module

MAPS = ("matrix_exp", "cayley", "householder")


def _to_numpy(t):
    return t.detach().cpu().numpy()


def _like(array, t):
    return _C.tensor(np.ascontiguousarray(array), dtype=t.dtype, device=t.device)


def _eye_like(t, rows, cols):
    eye = _C.eye(rows, cols, dtype=t.dtype, device=t.device)
    return eye.expand(*t.shape[:-2], rows, cols) if t.dim() > 2 else eye


def _matrix_exp(A):
    """exp(A) by scaling and squaring with a degree-18 Taylor polynomial (float64-accurate once
    ``||A / 2^s|| <= 1/2``)."""
    norm = float(A.detach().abs().sum(-1).max()) if A.numel() else 0.0
    squarings = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0.5 else 0
    scaled = A / (2.0 ** squarings)
    result = term = _eye_like(A, A.size(-1), A.size(-1))
    for k in range(1, 19):
        term = (term @ scaled) / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


class _Solve(Function):
    """X with A X = B (NumPy's LAPACK solve); backward: gB = A^-T g, gA = -gB X^T."""

    @staticmethod
    def forward(ctx, A, B):
        X = _like(np.linalg.solve(_to_numpy(A), _to_numpy(B)), B)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, grad):
        A, X = ctx.saved_tensors
        grad_B = _like(np.linalg.solve(np.swapaxes(_to_numpy(A), -1, -2), _to_numpy(grad)), grad)
        return -(grad_B @ X.mT), grad_B


def _cayley(A):
    """(I - A/2)^-1 (I + A/2)."""
    eye = _eye_like(A, A.size(-1), A.size(-1))
    return _Solve.apply(eye - A * 0.5, eye + A * 0.5)


def _householder_product(A, tau):
    """The first columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T with v_i the i-th column of A below the
    diagonal and 1 on it (LAPACK's orgqr)."""
    n, k = A.size(-2), A.size(-1)
    V = A.tril(-1) + _eye_like(A, n, k)
    Q = _eye_like(A, n, k)
    for i in range(k - 1, -1, -1):
        v = V[..., :, i:i + 1]
        Q = Q - tau[..., i:i + 1].unsqueeze(-1) * (v @ (v.mT @ Q))
    return Q


def _make_orthogonal(A):
    """The Q of A's QR decomposition whose R has a positive diagonal."""
    q, r = np.linalg.qr(_to_numpy(A))
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    return _like(q * signs[..., None, :], A)


def _is_orthogonal(Q):
    n, k = Q.size(-2), Q.size(-1)
    q = _to_numpy(Q)
    eps = 10 * n * np.finfo(q.dtype).eps
    return np.allclose(np.swapaxes(q, -1, -2) @ q, np.eye(k), atol=eps)


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.size(-2), X.size(-1)
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                X = _C.cat([X, X.new_zeros(tuple(X.shape[:-1]) + (n - k,))], -1)
            A = X - X.mT
            Q = _matrix_exp(A) if self.orthogonal_map == "matrix_exp" else _cayley(A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = _householder_product(A, tau)
            # The stored diagonal (+-1, from right_inverse) chooses each reflector's sign; it gets no gradient.
            Q = Q * X.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)
        if getattr(self, "base", None) is not None:
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q):
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of "
                                 f"shape {Q.shape}.")
            target = Q
            n, k = Q.size(-2), Q.size(-1)
            transposed = n < k
            if transposed:
                Q = Q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map != "householder":
                    raise NotImplementedError("It is not possible to assign to the matrix exponential or the "
                                              "Cayley parametrizations when use_trivialization=False.")
                return _householder_right_inverse(Q, transposed)
            if n == k:
                base = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:
                # Completed to a square orthogonal matrix by random columns.
                extra = _C.randn(tuple(Q.shape[:-1]) + (n - k,), dtype=Q.dtype, device=Q.device)
                base = _make_orthogonal(_C.cat([Q, extra], -1))
            self.base = base
            # -I: both maps send it to the identity, so the parametrized value starts as ``base``.
            return -_eye_like(target, target.size(-2), target.size(-1)).clone()


def _householder_right_inverse(Q, transposed):
    """The reflectors of Q's QR decomposition (``geqrf``), with the diagonal set to the sign it needs."""
    q = _to_numpy(Q)
    stacked = q.reshape((-1,) + q.shape[-2:])
    reflectors = np.empty_like(stacked)
    for index, matrix in enumerate(stacked):
        h, tau = np.linalg.qr(matrix, mode="raw")
        A = h.T.copy()
        diagonal = np.sign(np.diagonal(A)).copy()
        diagonal[tau == 0.0] *= -1
        np.fill_diagonal(A, diagonal)
        reflectors[index] = A
    A = _like(reflectors.reshape(q.shape), Q)
    return A.mT if transposed else A
