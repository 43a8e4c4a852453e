"""L-BFGS (PyTorch's ``torch.optim.LBFGS``), with the optional strong-Wolfe line search.

The parameters are handled as one flat vector (the concatenation of all of them); scalars of the
algorithm (step lengths, directional derivatives, losses) are Python floats. Each decision follows
PyTorch's, so iterates and the number of closure calls are the same as PyTorch's.
"""

from .. import _C
from ..autograd import enable_grad
from ._helpers import _check_lr
from .optimizer import Optimizer, _to_scalar, _use_grad

__all__ = ["LBFGS"]


def _cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer, clamped to ``bounds`` (default: between x1 and x2), of the cubic through
    (x1, f1) and (x2, f2) with slopes g1 and g2; the bounds' midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = d2_square ** 0.5
    if x1 <= x2:
        candidate = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        candidate = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(candidate, lo), hi)


class _Bracket:
    """Two trial step lengths with their losses, gradients and directional derivatives."""

    def __init__(self, points):
        self.points = points  # list of [t, f, g, gtd]

    def low_high(self):
        return (0, 1) if self.points[0][1] <= self.points[-1][1] else (1, 0)

    def width(self):
        return abs(self.points[1][0] - self.points[0][0])


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A line search along ``d`` from step length ``t`` for a point satisfying the strong Wolfe
    conditions (Nocedal & Wright, algorithms 3.5 and 3.6, with cubic interpolation).

    ``evaluate(t)`` returns the loss and flat gradient at ``x + t * d``. Returns the chosen point's
    loss, gradient and step length, and the number of evaluations made."""
    d_norm = d.abs().max().item()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d).item()
    prev = [0.0, f, g.clone(), gtd]
    done = False
    ls_iter = 0
    bracket = None
    # Bracketing phase: grow the step until an interval that holds a good point is known.
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= prev[1]):
            bracket = _Bracket([prev, [t, f_new, g_new.clone(), gtd_new]])
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket = _Bracket([[t, f_new, g_new, gtd_new]])
            done = True
            break
        if gtd_new >= 0:
            bracket = _Bracket([prev, [t, f_new, g_new.clone(), gtd_new]])
            break
        next_t = _cubic_minimizer(prev[0], prev[1], prev[3], t, f_new, gtd_new,
                                  bounds=(t + 0.01 * (t - prev[0]), t * 10))
        prev = [t, f_new, g_new.clone(), gtd_new]
        t = next_t
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = _Bracket([[0, f, g, None], [t, f_new, g_new, None]])

    # Zoom phase: shrink the bracket until a point satisfies the conditions.
    points = bracket.points
    insufficient_progress = False
    low, high = bracket.low_high()
    while not done and ls_iter < max_ls:
        if bracket.width() * d_norm < tolerance_change:
            break
        t = _cubic_minimizer(points[0][0], points[0][1], points[0][3], points[1][0], points[1][1], points[1][3])
        t_max = max(points[0][0], points[1][0])
        t_min = min(points[0][0], points[1][0])
        eps = 0.1 * (t_max - t_min)
        if min(t_max - t, t - t_min) < eps:
            # Too close to an end of the bracket: move away from it when progress stalls.
            if insufficient_progress or t >= t_max or t <= t_min:
                t = t_max - eps if abs(t - t_max) < abs(t - t_min) else t_min + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= points[low][1]:
            points[high] = [t, f_new, g_new.clone(), gtd_new]
            low, high = bracket.low_high()
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (points[high][0] - points[low][0]) >= 0:
                points[high] = points[low]
            points[low] = [t, f_new, g_new.clone(), gtd_new]
    t, f_new, g_new, _ = points[low]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """Limited-memory BFGS with PyTorch's defaults, checks, state and stopping rules.

    ``step(closure)`` runs up to ``max_iter`` iterations and ``max_eval`` closure calls (default
    ``max_iter * 5 // 4``). Without a line search each iteration moves by ``lr`` times the
    quasi-Newton direction (the first one scaled by ``min(1, 1 / |g|_1)``); with
    ``line_search_fn="strong_wolfe"`` that step length starts a strong-Wolfe search. Only one
    parameter group is allowed, as in PyTorch.
    """

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
        *,
        maximize=False,
    ):
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None

    def _numel(self):
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._params)
        return self._numel_cache

    def _gather_flat_grad(self):
        views = [p.new_zeros(p.numel()) if p.grad is None else p.grad.reshape(-1) for p in self._params]
        flat_grad = _C.cat(views, 0)
        if self.param_groups[0].get("maximize", False):
            flat_grad = flat_grad.neg()
        return flat_grad

    def _add_grad(self, step_size, update):
        offset = 0
        for p in self._params:
            numel = p.numel()
            p.add_(update[offset:offset + numel].view_as(p), alpha=step_size)
            offset += numel

    def _evaluate(self, closure):
        """Runs the closure; returns the loss to minimize (a float) and the flat gradient."""
        with enable_grad():
            loss = float(closure())
        if self.param_groups[0].get("maximize", False):
            loss = -loss
        return loss, self._gather_flat_grad()

    def _evaluate_along(self, closure, x, t, d):
        """Loss and gradient at ``x + t * d``; the parameters are restored to ``x`` afterwards."""
        self._add_grad(t, d)
        result = self._evaluate(closure)
        for p, saved in zip(self._params, x):
            p.copy_(saved)
        return result

    @_use_grad
    def step(self, closure):
        """Performs one optimization step (up to ``max_iter`` iterations).

        Args:
            closure (Callable): re-evaluates the model and returns the loss.
        """
        group = self.param_groups[0]
        if len(self._params) == 0:
            with enable_grad():
                return closure()
        lr = float(_to_scalar(group["lr"]))
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        maximize = group.get("maximize", False)

        # All the state lives with the first parameter, as in PyTorch.
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = -float(orig_loss) if maximize else float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max().item() <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                d, H_diag = self._two_loop_direction(state, flat_grad, prev_flat_grad, d, float(t),
                                                     old_dirs, old_stps, ro, H_diag, history_size)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone()
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / flat_grad.abs().sum().item()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d).item()
            if gtd > -tolerance_change:
                break

            evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = [p.clone() for p in self._params]
                loss, flat_grad, t, evals = _strong_wolfe(
                    lambda step_length: self._evaluate_along(closure, x_init, step_length, d),
                    t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals,
                )
                self._add_grad(t, d)
                opt_cond = flat_grad.abs().max().item() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # The last iteration skips this evaluation: the next step makes it.
                    loss, flat_grad = self._evaluate(closure)
                    opt_cond = flat_grad.abs().max().item() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if d.mul(t).abs().max().item() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    @staticmethod
    def _two_loop_direction(state, flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, H_diag, history_size):
        """Updates the curvature history with the last step and returns the new direction
        ``-H g`` by the L-BFGS two-loop recursion, with the new initial Hessian scale ``H_diag``."""
        y = flat_grad.sub(prev_flat_grad)
        s = d.mul(t)
        ys = y.dot(s).item()
        if ys > 1e-10:
            # Only pairs with positive curvature keep the implicit Hessian positive definite.
            if len(old_dirs) == history_size:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            H_diag = ys / y.dot(y).item()
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = flat_grad.neg()
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = old_stps[i].dot(q).item() * ro[i]
            q.add_(old_dirs[i], alpha=-al[i])
        r = q.mul(H_diag)
        for i in range(len(old_dirs)):
            be_i = old_dirs[i].dot(r).item() * ro[i]
            r.add_(old_stps[i], alpha=al[i] - be_i)
        return r, H_diag
