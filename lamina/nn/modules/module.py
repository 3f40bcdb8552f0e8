"""``Module``: the base class of every layer and model.

A module owns parameters, buffers and submodules, registered by plain attribute assignment::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 256)      # a submodule
            self.scale = nn.Parameter(lamina.ones(1))
            self.register_buffer("steps", lamina.zeros((), dtype=lamina.int64))

        def forward(self, x):
            return self.fc1(x).relu() * self.scale

Names, defaults and ``state_dict`` keys follow PyTorch's ``torch.nn.Module``, so a
``state_dict`` moves between the two libraries (as NumPy arrays) for the same architecture.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator

import numpy as np

from lamina.autograd.function import Function
from lamina.autograd.grad_mode import is_grad_enabled, no_grad
from lamina.autograd.hooks import RemovableHandle
from lamina.device import check_device
from lamina.errors import LaminaTypeError, LaminaValueError
from lamina.nn.parameter import Buffer, Parameter
from lamina.tensor import Tensor, _make, parse_to

__all__ = ["Module"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it did not find and the ones it did not use."""

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _BackwardHooks:
    """One call's module backward hooks, PyTorch's ``BackwardHook``: an identity node
    (``_HookIdentity``) on the module's outputs hands their gradients to the backward
    pre-hooks and keeps them; another on its tensor inputs hands the gradients with respect
    to the inputs, with the kept output gradients, to the full backward hooks. What a hook
    returns replaces the gradients that flow on."""

    def __init__(self, module, full_hooks, pre_hooks):
        self.module = module
        self.full_hooks = list(full_hooks)
        self.pre_hooks = list(pre_hooks)
        self.n_inputs = 0
        self.input_idx = None          # positions of the wrapped tensor inputs (None: none)
        self.n_outputs = 0
        self.output_idx = []
        self.grad_outputs = None

    def setup_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (is_grad_enabled() and any(args[i].requires_grad for i in idx)):
            return args
        self.input_idx = idx
        # PyTorch hands zeros for a tensor input that needs no gradient (and for one that got
        # none): keep what it takes to make them
        self.input_like = [(args[i]._data.shape, args[i]._data.dtype, args[i].requires_grad)
                           for i in idx]
        wrapped = _HookIdentity.apply(self._input_grads, *(args[i] for i in idx))
        return _replace(args, idx, wrapped)

    def setup_outputs(self, out):
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
        if not (is_grad_enabled() and any(outs[i].requires_grad for i in idx)):
            return out
        self.n_outputs, self.output_idx = len(outs), idx
        wrapped = _replace(outs, idx, _HookIdentity.apply(self._output_grads,
                                                          *(outs[i] for i in idx)))
        return wrapped[0] if single else wrapped

    def _output_grads(self, grads):
        g_out = _pack(self.output_idx, grads, self.n_outputs)
        for hook in self.pre_hooks:
            r = hook(self.module, g_out)
            if r is not None:
                g_out = _check_count(r, len(g_out), "backward pre hook", "grad_output")
        self.grad_outputs = g_out
        if self.input_idx is None:     # no input requires grad: the full hooks run now
            g_in = (None,) * self.n_inputs
            for hook in self.full_hooks:
                r = hook(self.module, g_in, g_out)
                if r is not None and not all(x is None for x in r):
                    raise LaminaValueError(
                        "Backward hook for Modules where no input requires gradient should "
                        "always return None or None for all gradients.")
            self.grad_outputs = None
        return [g_out[i] for i in self.output_idx]

    def _input_grads(self, grads):
        if self.grad_outputs is None:  # the gradient did not come through the outputs
            return grads
        grads = [g if g is not None and needs else _make(np.zeros(shape, dtype))
                 for g, (shape, dtype, needs) in zip(grads, self.input_like)]
        g_in = _pack(self.input_idx, grads, self.n_inputs)
        for hook in self.full_hooks:
            r = hook(self.module, g_in, self.grad_outputs)
            if r is not None:
                g_in = _check_count(r, len(g_in), "backward hook", "grad_input")
        self.grad_outputs = None
        return [g_in[i] for i in self.input_idx]


class _HookIdentity(Function):
    """Identity on its tensor arguments; its backward hands the gradients to ``callback``
    (a ``_BackwardHooks`` method) and passes on what that returns."""

    @staticmethod
    def forward(ctx, callback, *arrays):
        ctx.callback = callback
        return tuple(a.view() for a in arrays)      # new arrays on the same memory

    @staticmethod
    def backward(ctx, *grads):
        out = ctx.callback([None if g is None else _make(g) for g in grads])
        return (None, *(None if g is None else g._data for g in out))


def _replace(seq: tuple, idx: list, values) -> tuple:
    values = values if isinstance(values, tuple) else (values,)
    out = list(seq)
    for i, v in zip(idx, values):
        out[i] = v
    return tuple(out)


def _pack(idx: list, grads, n: int) -> tuple:
    out = [None] * n
    for i, g in zip(idx, grads):
        out[i] = g
    return tuple(out)


def _check_count(r, n: int, what: str, name: str) -> tuple:
    r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
    if len(r) != n:
        raise LaminaValueError(f"{what} returned an invalid number of {name}, got {len(r)}, "
                               f"but expected {n}")
    return r


def _add_hook(hooks: OrderedDict, hook: Callable, prepend: bool) -> RemovableHandle:
    h = RemovableHandle(hooks)
    hooks[h.id] = hook
    if prepend:
        hooks.move_to_end(h.id, last=False)
    return h


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


class Module:
    """Base class of all layers and models (PyTorch's ``torch.nn.Module`` contract).

    Subclasses call ``super().__init__()`` first, assign parameters and submodules as
    attributes, and define ``forward``. Calling the module runs ``forward``.
    """

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise LaminaTypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments; Module.__init__ "
                "takes none"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()

    # --- calling -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"] \
                or d["_backward_pre_hooks"]:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        """PyTorch's order: forward pre-hooks, the backward hooks' input node, forward,
        forward hooks, the backward hooks' output node."""
        for hook in list(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        bw = None
        if self._backward_hooks or self._backward_pre_hooks:
            bw = _BackwardHooks(self, self._backward_hooks.values(),
                                self._backward_pre_hooks.values())
            args = bw.setup_inputs(args)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        if bw is not None:
            out = bw.setup_outputs(out)
        return out

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before ``forward``; a non-None return replaces args."""
        h = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[h.id] = hook
        return h

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a non-None return replaces
        the output."""
        h = RemovableHandle(self._forward_hooks)
        self._forward_hooks[h.id] = hook
        return h

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False
                                    ) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to
        the module's inputs are computed (tuples, ``None`` for non-tensor arguments and inputs
        that need no gradient); a non-None return replaces ``grad_input``. As PyTorch's, for
        modules whose inputs and outputs are tensors (or tuples of them)."""
        return _add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False
                                        ) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are computed; a non-None return replaces ``grad_output``."""
        return _add_hook(self._backward_pre_hooks, hook, prepend)

    # --- registration ------------------------------------------------------------------
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    @staticmethod
    def _check_name(name, kind: str) -> None:
        if not isinstance(name, str):
            raise LaminaTypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``, a declared-but-absent one such as a missing bias)."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise LaminaTypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(lamina.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (running statistics, counters).

        Persistent buffers appear in ``state_dict``; all buffers follow ``to(dtype)`` when
        floating.
        """
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise LaminaTypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(lamina.Tensor or None required)"
            )
        if isinstance(tensor, (Buffer, Parameter)):
            tensor = _make(tensor._data)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (``None`` declares an empty slot)."""
        self._check_init("child modules")
        if module is not None and not isinstance(module, Module):
            raise LaminaTypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise LaminaTypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(lamina.nn.Parameter or None expected)"
                )
            params[name] = None
            return
        if isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
            return
        modules = d.get("_modules")
        if modules is not None and name in modules:
            if value is not None:
                raise LaminaTypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(lamina.nn.Module or None expected)"
                )
            modules[name] = None
            return
        if isinstance(value, Buffer):
            if params is None:
                raise AttributeError("cannot assign buffers before Module.__init__() call")
            self._forget(name, keep="_buffers")
            self.register_buffer(name, value, value.persistent)
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise LaminaTypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(lamina.Tensor or None expected)"
                )
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop ``name`` from the instance dict and the registries other than ``keep`` (so a
        re-assigned name keeps its place in ``keep``'s order, as in PyTorch)."""
        d = self.__dict__
        d.pop(name, None)
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg != keep:
                d[reg].pop(name, None)
        if keep != "_buffers":
            d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                del r[name]
                if reg == "_buffers":
                    d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_backward_hooks", "_backward_pre_hooks"):   # modules pickled before
            self.__dict__.setdefault(name, OrderedDict())

    # --- traversal ---------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted_name, module)`` for this module (name ``''``) and every descendant."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True):
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        seen = set()
        for mprefix, m in mods:
            for name, v in m.__dict__[registry].items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, parameter)`` pairs; a parameter shared by two modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``''`` is this module)."""
        if target == "":
            return self
        m = self
        for item in target.split("."):
            if not isinstance(m, Module) or item not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no attribute `{item}`")
            m = m._modules[item]
        return m

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        m = self.get_submodule(mod_path)
        if name not in m._parameters:
            raise AttributeError(f"{type(m).__name__} has no parameter `{name}`")
        return m._parameters[name]

    # --- modes and gradients -----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant (affects Dropout, BatchNorm)."""
        if not isinstance(mode, bool):
            raise LaminaValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to ``None`` by default, or to zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            elif p.grad._data.flags.writeable:
                p.grad._data.fill(0)
            else:
                p.grad = _make(np.zeros_like(p.grad._data))

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --- dtype conversion ----------------------------------------------------------------
    def _apply_floating(self, dtype) -> Module:
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p._data.dtype.kind == "f" and p._data.dtype != dtype:
                    p._data = p._data.astype(dtype)
                    if p.grad is not None:
                        p.grad = _make(p.grad._data.astype(dtype))
            for name, b in m._buffers.items():
                if b is not None and b._data.dtype.kind == "f" and b._data.dtype != dtype:
                    m._buffers[name] = _make(b._data.astype(dtype))
        return self

    def to(self, *args, **kwargs) -> Module:
        """Convert floating parameters and buffers to ``dtype`` in place (the Parameter
        objects stay the same, so an optimizer built before still holds them). Takes
        ``Tensor.to``'s forms; the device must be the CPU (any other raises, naming it)."""
        dtype, _ = parse_to(args, kwargs, "Module.to")
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise LaminaTypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}"
            )
        return self._apply_floating(dtype)

    def float(self) -> Module:
        return self._apply_floating(np.dtype("float32"))

    def double(self) -> Module:
        return self._apply_floating(np.dtype("float64"))

    def cpu(self) -> Module:
        return self

    def cuda(self, device=None) -> Module:
        """Always an error: lamina has no CUDA backend (the message names the device)."""
        check_device("cuda" if device is None else
                     device if not isinstance(device, int) else f"cuda:{device}", "Module.cuda")

    def type(self, dst_type) -> Module:
        return self.to(dst_type)

    # --- state_dict --------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args, destination=None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, as detached tensors sharing
        memory with the module. Keys and layouts are PyTorch's for the same architecture."""
        if args:  # the positional (destination, prefix, keep_vars) form PyTorch deprecates
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix: str, local_metadata, strict: bool,
                              missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        """Copy this module's own entries (``prefix + name``) from ``state_dict`` in place;
        subclasses with special layouts override this."""
        local = [(k, v) for k, v in self._parameters.items() if v is not None]
        local += [(k, v) for k, v in self._buffers.items()
                  if v is not None and k not in self._non_persistent_buffers_set]
        for name, target in local:
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            arr = value._data if isinstance(value, Tensor) else np.asarray(value)
            if arr.shape != target._data.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape "
                    f"{_shape_str(arr.shape)} from checkpoint, the shape in current model is "
                    f"{_shape_str(target._data.shape)}."
                )
                continue
            if arr.dtype.kind not in "biuf":
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected a numeric array, '
                    f"got dtype {arr.dtype}."
                )
                continue
            np.copyto(target._data, arr, casting="unsafe")
            if target._vc is not None:
                target._vc[0] += 1

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy ``state_dict``'s values (lamina tensors or NumPy arrays) into this module's
        parameters and persistent buffers, in place.

        With ``strict`` (the default) the keys must match exactly. Returns
        ``(missing_keys, unexpected_keys)``; raises ``RuntimeError`` listing missing and
        unexpected keys (strict only) and shape mismatches (always) by name.

        >>> model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
        <All keys matched successfully>
        """
        if assign:
            raise NotImplementedError("load_state_dict: assign=True is not supported")
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise LaminaTypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list = []
        errors: list = []

        def load(module: Module, prefix: str) -> None:
            module._load_from_state_dict(state_dict, prefix, {}, strict, missing, [], errors)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        with no_grad():
            load(self, "")
        known = set(self.state_dict(keep_vars=True).keys())
        unexpected = [k for k in state_dict.keys() if k not in known]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise LaminaValueError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # --- printing ----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its hyperparameters)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        child_lines = []
        for name, m in self._modules.items():
            mod_str = _addindent(repr(m), 2)
            child_lines.append(f"({name}): {mod_str}")
        lines += child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra.split("\n")) == 1 and not child_lines:
                main += extra
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
