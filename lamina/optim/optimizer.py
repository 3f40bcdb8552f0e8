"""``Optimizer``: the base class of every optimizer: parameter groups and per-parameter state.

An optimizer owns a list of *parameter groups* (dicts with a ``"params"`` list and that group's
hyper-parameters) and a ``state`` dict keyed by parameter tensor. ``step()`` reads each
parameter's ``.grad`` and updates ``._data`` in place with NumPy ufuncs (``out=``), so an update
never builds a graph and allocates nothing after the first step: the temporaries an update
needs come from a small pool of scratch arrays keyed by shape and dtype.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.autograd.grad_mode import GradMode
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.tensor import Tensor, _make

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter without a default: every group must then set it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise LaminaValueError(message)


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer`` contract).

    Args:
        params: an iterable of tensors to optimize, or of dicts (*parameter groups*), each
            with a ``"params"`` entry and any hyper-parameters that override ``defaults``
            for that group.
        defaults: default hyper-parameters, used by groups that do not set them.

    Attributes:
        param_groups: the list of group dicts.
        defaults: the dict given above.
        state: per-parameter state, a ``defaultdict(dict)`` keyed by the parameter tensor
            (for example ``state[p]["momentum_buffer"]``). Array state is held as lamina
            tensors; ``"step"`` is a Python ``int`` (PyTorch keeps a 0-d float tensor).

    Subclasses implement ``_step_group(group)``, which updates the parameters of one group;
    ``step`` runs the closure and then calls it for every group. (A subclass may instead
    override ``step`` itself, as in PyTorch.)

    Differences from PyTorch, on purpose: a parameter listed twice in one group is an error
    (PyTorch only warns); there are no ``foreach``/``fused``/``capturable``/``differentiable``
    flags and no hooks.
    """

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple, list[np.ndarray]] = {}
        if isinstance(params, Tensor):
            raise LaminaTypeError(
                f"{type(self).__name__}: params argument given to the optimizer should be an "
                "iterable of Tensors or dicts, but got Tensor"
            )
        if isinstance(params, dict):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise LaminaTypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        try:
            groups = list(params)
        except TypeError:
            raise LaminaTypeError(
                f"{type(self).__name__}: params argument given to the optimizer should be an "
                f"iterable of Tensors or dicts, but got {type(params).__name__}"
            ) from None
        if len(groups) == 0:
            raise LaminaValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- groups --------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with ``"params"`` and optional hyper-parameters).

        Useful for fine-tuning: unfreeze layers and add them with their own learning rate.
        Missing hyper-parameters take the optimizer's ``defaults``.
        """
        if not isinstance(param_group, dict):
            raise LaminaTypeError(f"param_group must be a dict, but got "
                                  f"{type(param_group).__name__}")
        group = param_group   # kept as given (as in PyTorch): edits to it reach the optimizer
        params = group.get("params")
        if params is None:
            raise LaminaValueError("add_param_group: the param group has no 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise LaminaTypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):
            # named parameters, as from ``module.named_parameters()``
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise LaminaTypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise LaminaValueError("can't optimize a non-leaf Tensor")
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise LaminaValueError(
                "optimizer contains a parameter group with duplicate parameters: "
                "each parameter may appear only once"
            )
        for g in self.param_groups:
            if any(id(p) in ids for p in g["params"]):
                raise LaminaValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise LaminaValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            group.setdefault(name, default)
        self._check_group(group)
        self.param_groups.append(group)
        self._init_group_state(group)

    _str_options: tuple[str, ...] = ()

    def _check_group(self, group: dict[str, Any]) -> None:
        """Check one group's hyper-parameters, naming the optimizer in the error: a number
        given as another type (``lr='0.1'``) is a ``LaminaTypeError``, then the subclass's
        ``_validate_group`` checks the values (PyTorch's messages)."""
        name = type(self).__name__
        for key, value in group.items():
            # every hyper-parameter is a number, a bool or a tuple, except the few options a
            # subclass names in ``_str_options`` (LBFGS's line_search_fn)
            if isinstance(value, str) and key not in self._str_options:
                raise LaminaTypeError(f"{name}: {key} must be a number, got str {value!r}")
        try:
            self._validate_group(group)
        except LaminaValueError as e:
            raise LaminaValueError(f"{name}: {e}") from None
        except TypeError as e:  # e.g. betas=('a', 0.9) compared with a float
            raise LaminaTypeError(f"{name}: invalid hyper-parameter type: {e}") from None

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check one group's hyper-parameters (subclasses raise PyTorch's messages)."""

    def _init_group_state(self, group: dict[str, Any]) -> None:
        """Create state eagerly for a new group (Adagrad does; most optimizers are lazy)."""

    # --- gradients -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        Args:
            set_to_none: drop the ``.grad`` tensors (the default, and cheaper); with ``False``
                the gradient arrays are zeroed in place instead. Optimizers skip parameters
                whose ``.grad`` is ``None`` but do step those with a zero gradient (weight
                decay and momentum still act).
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g._ctx = None
                    g.requires_grad = False
                    g._data.fill(0)
                    if g._vc is not None:
                        g._vc[0] += 1

    # --- the update ----------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimization step and return the closure's loss (or ``None``).

        Args:
            closure: a callable that re-evaluates the model and returns the loss; it runs with
                gradient recording on (LBFGS-style optimizers call it several times).
        """
        loss = None
        if closure is not None:
            prev = GradMode.enabled
            GradMode.enabled = True
            try:
                loss = closure()
            finally:
                GradMode.enabled = prev
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    _n_scratch = 2   # scratch arrays per shape that ``_step_group`` needs

    def _grads(self, group, weight_decay: float):
        """Yield ``(param, data, grad, scratch)`` for every parameter of ``group`` that has a
        gradient. ``grad`` already has ``maximize`` and L2 ``weight_decay`` applied (in
        ``scratch[0]`` when that changes it); ``scratch`` holds this shape's spare arrays."""
        maximize = group["maximize"]
        scratch = self._scratch
        for p in group["params"]:
            gt = p.grad
            if gt is None:
                continue
            d = p._data
            s = scratch.get((d.shape, d.dtype)) or self._new_buffers(d)
            yield p, d, _decayed_grad(gt._data, d, weight_decay, maximize, s[0]), s

    def _new_buffers(self, d: np.ndarray) -> list[np.ndarray]:
        """Scratch arrays with ``d``'s shape and dtype, reused from step to step.

        The step loops look them up inline, ``self._scratch.get((d.shape, d.dtype))``, and
        call this only the first time a shape is seen.
        """
        bufs = [np.empty(d.shape, d.dtype) for _ in range(self._n_scratch)]
        self._scratch[d.shape, d.dtype] = bufs
        return bufs

    # --- saving and loading --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as PyTorch structures it.

        ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``
        where indices number the parameters across groups in order. Array state (momentum
        buffers, moment estimates) is given as lamina tensors sharing memory with the live
        state (as in PyTorch: save or copy it before stepping on); ``"step"`` is an ``int``;
        everything else is Python numbers, bools, strings and tuples. A safetensors-based
        ``lamina.save`` can therefore store the tensors under flattened names and the rest
        as JSON metadata.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                i = index.setdefault(id(p), len(index))
                ids.append(i)
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            key = index.get(id(p)) if isinstance(p, Tensor) else p
            if key is None:
                continue
            state[key] = dict(s)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict made by ``state_dict`` (of an optimizer over matching parameters).

        Arrays may be lamina tensors, NumPy arrays or anything ``numpy.asarray`` accepts (a
        PyTorch state dict loads too); they are copied, and floating ones cast to their
        parameter's dtype. Group hyper-parameters (``lr`` included) are replaced by the
        loaded ones: create LR schedulers before loading.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise LaminaValueError("load_state_dict: expected a dict with 'state' and "
                                   "'param_groups' "
                                   "entries, as made by Optimizer.state_dict()")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise LaminaValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise LaminaValueError("loaded state dict contains a parameter group that doesn't "
                                       "match the size of optimizer's group")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for p, i in zip(g["params"], sg["params"]):
                id_map[i] = p
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            p = id_map.get(k)
            if p is None:
                state[k] = v
                continue
            state[p] = {name: _load_value(p, k, name, value) for name, value in v.items()}
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
            new_groups.append(sg)
        self.state = state
        self.param_groups = new_groups

    # --- misc ----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch = {}

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _load_value(p: Tensor, index, name: str, value):
    """Copy one loaded state entry, casting floating arrays to the parameter's dtype."""
    if name == "step":
        return int(float(value)) if not isinstance(value, int) else value
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple, dict)):
        return copy.deepcopy(value)
    arr = np.asarray(value._data if isinstance(value, Tensor) else value)
    if arr.dtype.kind == "f":
        arr = np.array(arr, dtype=p._data.dtype, copy=True)
    else:
        arr = arr.copy()
    if arr.ndim and arr.shape != p._data.shape:
        raise LaminaValueError(
            f"load_state_dict: state '{name}' of parameter {index} has shape {arr.shape}, "
            f"but the parameter has shape {p._data.shape}"
        )
    return _make(arr)


def _decayed_grad(g: np.ndarray, p: np.ndarray, weight_decay: float, maximize: bool,
                  out: np.ndarray) -> np.ndarray:
    """The gradient an update uses: ``-g`` when maximizing, plus ``weight_decay * p`` (L2).

    Returns ``g`` itself when neither applies, else ``out`` holding the result.
    """
    if weight_decay:
        np.multiply(p, weight_decay, out=out)
        if maximize:
            np.subtract(out, g, out=out)
        else:
            np.add(g, out, out=out)
        return out
    if maximize:
        return np.negative(g, out=out)
    return g
