"""``F.affine_grid`` and ``F.grid_sample`` (4-D input), composed from linspace, matmul, floor, gather and
masks, so that autograd gives the gradients w.r.t. the input and the grid, as PyTorch's kernels."""

import warnings

from .. import _C
from .._dtype_names import scalar_name

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")


def _linspace_from_neg_one(theta, steps, align_corners):
    if steps <= 1:
        return _C.zeros([1], dtype=theta.dtype, device=theta.device)
    r = _C.linspace(-1.0, 1.0, steps, dtype=theta.dtype, device=theta.device)
    if not align_corners:
        r = r * ((steps - 1) / steps)
    return r


def _affine_grid_generator(theta, size, align_corners):
    n = size[0]
    if theta.shape[0] != n:
        rows, cols = (3, 3) if len(size) == 4 else (4, 4)
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{n}, {cols}] but got: "
                           f"[{theta.shape[0]}, {theta.shape[2]}].")
    spatial = list(size[2:])  # (H, W) or (D, H, W)
    axes = [_linspace_from_neg_one(theta, s, align_corners) for s in spatial]
    k = len(spatial)
    parts = []
    # base grid's last dim: x (W), y (H)[, z (D)], 1
    for j in range(k):
        a = axes[k - 1 - j]
        shape = [1] * k
        shape[k - 1 - j] = a.shape[0]
        parts.append(a.reshape(shape).expand(*spatial))
    parts.append(_C.ones(spatial, dtype=theta.dtype, device=theta.device))
    base = _C.stack(parts, -1).reshape(1, -1, k + 1)
    grid = base.matmul(theta.transpose(1, 2))  # (N, prod(spatial), k)
    return grid.reshape(n, *spatial, k)


def affine_grid(theta, size, align_corners=None):
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {theta.shape}.")
        spatial_size = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {theta.shape}.")
        spatial_size = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if align_corners and min(spatial_size) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation "
                      "of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return _affine_grid_generator(theta, [int(s) for s in size], align_corners)


# ----- grid_sample --------------------------------------------------------------------------------

def _unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1) * ((size - 1) / 2)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord, twice_low, twice_high):
    if twice_low == twice_high:
        return coord * 0
    lo = twice_low / 2
    span = (twice_high - twice_low) / 2
    c = (coord - lo).abs()
    flips = (c / span).floor().detach()
    extra = c - flips * span  # fmod(c, span), with fmod's gradient
    even = (flips.remainder(2) == 0)
    return _C.where(even, extra + lo, span - extra + lo)


def _source_index(coord, size, padding_mode, align_corners):
    c = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        c = c.clamp(0, size - 1)
    elif padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        c = c.clamp(0, size - 1)
    return c


def _sizes(t):
    return list(t.shape)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.dtype != grid.dtype:
        raise RuntimeError(f"expected scalar type {scalar_name(input.dtype)} but found {scalar_name(grid.dtype)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {_sizes(input)} and grid with sizes {_sizes(grid)}")
    if grid.shape[-1] != input.dim() - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.dim() - 2} in last dimension, but got "
                           f"grid with sizes {_sizes(grid)}")
    for i in range(2, input.dim()):
        if input.shape[i] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                               f"sizes {_sizes(input)} with dimension {i} being empty")
    if input.dim() == 5 and grid.dim() == 5:
        raise NotImplementedError("grid_sample: rustgrad supports 4-D input (N, C, H, W) only, not 5-D")
    if input.dim() != 4 or grid.dim() != 4:
        raise RuntimeError("grid_sampler(): expected 4D input and grid with same number of dimensions, but got "
                           f"input with sizes {_sizes(input)} and grid with sizes {_sizes(grid)}")
    if mode == "bicubic":
        raise NotImplementedError("grid_sample: mode='bicubic' is not supported by rustgrad")
    n, c, h, w = input.shape
    ho, wo = grid.shape[1], grid.shape[2]
    ix = _source_index(grid[..., 0], w, padding_mode, align_corners).reshape(n, 1, ho * wo)
    iy = _source_index(grid[..., 1], h, padding_mode, align_corners).reshape(n, 1, ho * wo)
    flat = input.reshape(n, c, h * w)

    def at(xi, yi):
        """input at integer (float-valued) coords, zero outside."""
        inside = ((xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)).detach()
        idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).detach().long().expand(n, c, ho * wo)
        return flat.gather(2, idx) * inside.to(input.dtype)

    if mode == "nearest":
        out = at(ix.round().detach(), iy.round().detach())
        if grid.requires_grad:  # PyTorch's grid gradient here is zeros, not undefined
            out = out + ((ix - ix.detach()) + (iy - iy.detach())) * 0
    else:
        x0, y0 = ix.floor().detach(), iy.floor().detach()
        x1, y1 = x0 + 1, y0 + 1
        out = (at(x0, y0) * ((x1 - ix) * (y1 - iy)) + at(x1, y0) * ((ix - x0) * (y1 - iy))
               + at(x0, y1) * ((x1 - ix) * (iy - y0)) + at(x1, y1) * ((ix - x0) * (iy - y0)))
    return out.reshape(n, c, ho, wo)
