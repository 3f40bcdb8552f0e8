"""``Tensor``: an n-dimensional array that can record the operations applied to it.

A tensor wraps an ``xp`` (NumPy) array in the slot ``_data`` (``numpy()`` returns it; ``.data``
is PyTorch's detached tensor sharing it). When ``requires_grad`` is true, every op
applied to it records a node in a graph, and ``backward()`` walks that graph in reverse to
compute gradients (see ``lamina.autograd``). The methods here are thin: each one calls the op
of the same name in ``lamina.ops``.
"""

from __future__ import annotations

import numpy as np

from lamina import backend
from lamina.backend import as_dtype, canonical_dtype, get_default_dtype, is_floating
from lamina.device import CPU, check_device, is_device
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as ``lamina.Size([2, 3])`` (PyTorch's
    ``torch.Size``); ``Tensor.size()`` returns one.

    >>> lamina.zeros(2, 3).size().numel()
    6
    """

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"lamina.Size({list(self)})"

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


def _init_slots(t, data: np.ndarray, requires_grad: bool = False) -> None:
    """Give a new tensor (or Parameter, Buffer) its data and every other slot's empty value:
    the one place that lists them (``Function.apply`` inlines the same for speed)."""
    t._data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._ctx = None           # the Function node that made it (None for leaves)
    t._out_idx = 0          # which output of that node it is
    t._vc = None            # version counter [n], shared with views; created when needed
    t._retain = False       # retain_grad() was called
    t._prev = None          # grad_fn history left by in-place ops (autograd.engine.edge)


def _make(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    """Fast internal constructor: wrap an array that already has a lamina dtype, no checks."""
    t = object.__new__(Tensor)
    _init_slots(t, data, requires_grad)
    return t


def _to_array(data, dtype=None, copy=True) -> np.ndarray:
    """Convert Python data / arrays / tensors to an array with a lamina dtype."""
    if isinstance(data, Tensor):
        arr = data._data
    else:
        arr = data
    if dtype is not None:
        dtype = as_dtype(dtype)
        return np.array(arr, dtype=dtype, copy=copy) if copy else np.asarray(arr, dtype=dtype)
    if isinstance(arr, np.ndarray):
        d = canonical_dtype(arr.dtype)
        return np.array(arr, dtype=d, copy=copy) if copy or d != arr.dtype else arr
    a = np.array(arr)
    if a.dtype.kind == "f":
        return a.astype(get_default_dtype(), copy=False)
    if a.dtype.kind == "O":
        raise LaminaTypeError(f"tensor: could not convert data of type {type(data).__name__} "
                              "to a numeric array")
    return a.astype(canonical_dtype(a.dtype), copy=False)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    >>> x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "grad", "requires_grad", "_ctx", "_out_idx", "_vc", "_retain",
                 "_prev", "__weakref__")
    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor's reflected ops

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        _init_slots(self, _to_array(data, dtype))
        if requires_grad:
            self.requires_grad_(True)

    # --- basic attributes ----------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape as a ``lamina.Size``, or the length of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_norm_dim(dim, self._data.ndim, "size")]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise LaminaTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: a tensor sharing this one's storage, outside the graph, with
        ``requires_grad=False``. In-place changes through it (``p.data.add_(...)``,
        ``m.bias.data.fill_(0.01)``) change this tensor, and autograd does not see them: no
        version-counter check will catch a change of a value backward still needs, which is
        why PyTorch recommends ``detach()`` (which shares the counter) or ``no_grad()`` for new
        code. For the NumPy array itself use ``numpy()`` (or ``detach().numpy()``)."""
        return _make(self._data)

    @data.setter
    def data(self, value) -> None:
        if not isinstance(value, Tensor):
            raise LaminaTypeError(f"data: expected a Tensor to assign, got "
                                  f"{type(value).__name__} (wrap an array with lamina.tensor)")
        self._data = value._data

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def device(self):
        """Where the data lives: ``lamina.device('cpu')``, one object shared by all tensors
        (lamina has only the CPU backend; see ``lamina.device``)."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_cpu(self) -> bool:
        return True

    def is_floating_point(self) -> bool:
        return is_floating(self._data.dtype)

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not is_floating(self._data.dtype):
            raise LaminaValueError(
                f"only tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise LaminaValueError(
                "you can only change requires_grad flags of leaf variables; use detach() "
                "to get a tensor that does not require grad"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward`` (leaves always keep it)."""
        if self._ctx is None or self._retain:
            return
        if not self.requires_grad:
            raise LaminaValueError("can't retain_grad on a tensor that has requires_grad=False")
        self._retain = True
        _engine.watch(self._ctx).retained.append(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient during backward; a tensor it
        returns replaces the gradient. Works on leaves and intermediates; returns a handle
        whose ``remove()`` unregisters it. See ``lamina.autograd.hooks``.

        >>> h = x.register_hook(lambda g: g * 2)   # x.grad doubles
        """
        if not self.requires_grad:
            raise LaminaValueError(
                "cannot register a hook on a tensor that doesn't require gradient")
        return _engine.register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` once per ``backward()``, after this leaf's ``.grad`` has received
        the pass's whole gradient (PyTorch's hook of the same name; leaves only). Returns a
        handle whose ``remove()`` unregisters it. See ``lamina.autograd.hooks``.

        >>> h = w.register_post_accumulate_grad_hook(lambda p: print(p.grad.norm()))
        """
        if not self.requires_grad:
            raise LaminaValueError(
                "cannot register a hook on a tensor that doesn't require gradient")
        return _engine.register_post_accumulate_grad_hook(self, hook)

    @property
    def retains_grad(self) -> bool:
        return self._retain

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        t = _make(self._data)
        if self._vc is None:
            self._vc = [0]
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        if self._ctx is not None:
            # nodes recorded before now still reach the old grad_fn (see autograd.engine.edge)
            self._prev = (_next_seq(), self._ctx, self._out_idx, self._prev)
        self._ctx = None
        self.requires_grad = False
        return self

    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf. With
        ``create_graph=True`` the backward is itself recorded: each ``.grad`` is then a tensor
        with a graph, for gradients of gradients. ``retain_graph`` defaults to
        ``create_graph``, as in PyTorch. (lamina differs in one case: with
        ``create_graph=True, retain_graph=False`` a freed node loses its edges too, so a
        recorded gradient that refers to intermediate tensors of the freed graph cannot be
        differentiated again; PyTorch frees only the saved tensors.)"""
        _engine.backward(self, gradient, retain_graph, create_graph)

    # --- conversion ----------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The underlying array (shared memory); errors if this tensor requires grad, unless
        ``force=True`` (PyTorch's flag; on the CPU it returns the same shared array)."""
        if self.requires_grad and not force:
            raise LaminaValueError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy()"
            )
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if type(a) is not np.ndarray:           # a NumPy scalar some reductions leave
            a = np.asarray(a)
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self):
        if self._data.size != 1:
            raise LaminaValueError(
                f"item: a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise LaminaValueError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return bool(self._data.reshape(()).item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise LaminaTypeError("only integer tensors of a single element can be converted to an "
                                  "index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def to(self, *args, **kwargs) -> Tensor:
        """This tensor with another dtype and/or on another device, PyTorch's forms:
        ``to(dtype)``, ``to(device, dtype=None)``, ``to(other)``, each with ``non_blocking``
        and ``copy`` keywords. Returns ``self`` when nothing changes (unless ``copy=True``).
        Only the CPU device exists: any other raises an error naming it.

        >>> x.to("cpu", lamina.float64).dtype
        dtype('float64')
        """
        dtype, copy = parse_to(args, kwargs, "Tensor.to")
        if dtype is None or dtype == self._data.dtype:
            return _ops.clone(self) if copy else self
        return _ops.cast(self, dtype)
    def type(self, dtype=None):
        if dtype is None:
            return str(self.dtype)
        return self.to(dtype)

    def float(self) -> Tensor:
        return _ops.cast(self, backend.float32)

    def double(self) -> Tensor:
        return _ops.cast(self, backend.float64)

    def long(self) -> Tensor:
        return _ops.cast(self, backend.int64)

    def int(self) -> Tensor:
        """Cast to int32 (``torch.int``); ``long()`` gives int64."""
        return _ops.cast(self, backend.int32)

    def short(self) -> Tensor:
        return _ops.cast(self, backend.int16)

    def char(self) -> Tensor:
        return _ops.cast(self, backend.int8)

    def byte(self) -> Tensor:
        return _ops.cast(self, backend.uint8)

    def half(self) -> Tensor:
        return _ops.cast(self, backend.float16)

    def bfloat16(self) -> Tensor:
        """Cast to bfloat16 (needs the ml_dtypes package)."""
        return _ops.cast(self, "bfloat16")

    def bool(self) -> Tensor:
        return _ops.cast(self, backend.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        """Always an error: lamina has no CUDA backend (the message names the device)."""
        check_device(_cuda_device(device), "Tensor.cuda")

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor cast to ``other``'s dtype (``self`` when they already agree)."""
        return self.to(other._data.dtype)

    def clone(self) -> Tensor:
        return _ops.clone(self)

    # --- new tensors like this one (PyTorch's ``new_*``: same dtype and device by default) --
    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(_to_array(data, dtype or self._data.dtype), device, requires_grad,
                         "new_tensor")

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.zeros(_new_size(size), dtype=as_dtype(dtype or self._data.dtype)),
                         device, requires_grad, "new_zeros")

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.ones(_new_size(size), dtype=as_dtype(dtype or self._data.dtype)),
                         device, requires_grad, "new_ones")

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.empty(_new_size(size), dtype=as_dtype(dtype or self._data.dtype)),
                         device, requires_grad, "new_empty")

    def new_full(self, size, fill_value, dtype=None, device=None,
                 requires_grad: bool = False) -> Tensor:
        return self._new(np.full(_new_size((size,)), fill_value,
                                 dtype=as_dtype(dtype or self._data.dtype)),
                         device, requires_grad, "new_full")

    def _new(self, arr, device, requires_grad, where) -> Tensor:
        if device is not None:
            check_device(device, where)
        t = _make(arr)
        if requires_grad:
            t.requires_grad_(True)
        return t

    def apply_(self, fn) -> Tensor:
        """Replace every element ``v`` by ``fn(v)`` in place (a Python call per element: slow,
        as in PyTorch); not differentiable. Returns ``self``."""
        if self.requires_grad:
            raise LaminaValueError("apply_: can't be used on a tensor that requires grad (it is "
                                   "not differentiable)")
        if self._data.size:
            self._data[...] = np.vectorize(fn, otypes=[self._data.dtype])(self._data)
        if self._vc is not None:
            self._vc[0] += 1
        return self

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"``: a 0-d tensor formats as its Python number, as in PyTorch."""
        if self._data.ndim == 0:
            return self._data.item().__format__(spec)
        return object.__format__(self, spec)

    def contiguous(self) -> Tensor:
        return self

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def __repr__(self) -> str:
        shown = self._data if self._data.dtype.kind != "V" else self._data.astype(np.float32)
        body = np.array2string(shown, separator=", ", prefix="tensor(",
                               precision=4, threshold=1000, edgeitems=3)
        extra = []
        if self._data.dtype not in (get_default_dtype(), backend.int64) or self._data.size == 0:
            if not (self._data.dtype == backend.bool_ and self._data.size):
                extra.append(f"dtype=lamina.{self._data.dtype}")
        if self._ctx is not None:
            extra.append(f"grad_fn={self._ctx!r}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self._data.size == 0:
            extra.insert(0, f"size={self._data.shape}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # --- operators --------------------------------------------------------------------
    # Operators that are an op function called with (self, other) in order are that function
    # itself, attached once below the class (``_OPERATORS``). Those here reorder or choose.
    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __pos__(self):
        return self

    # comparisons and logic: no gradient
    def __and__(self, other):
        return _ops.logical_and(self, other) if self.dtype == backend.bool_ else \
            _ops.bitwise_and(self, other)

    def __or__(self, other):
        return _ops.logical_or(self, other) if self.dtype == backend.bool_ else \
            _ops.bitwise_or(self, other)

    # --- properties that are ops ---------------------------------------------------------
    @property
    def T(self) -> Tensor:
        return _ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))

    def t(self) -> Tensor:
        """The transpose of a matrix; a 0-d or 1-d tensor is returned as it is."""
        if self._data.ndim > 2:
            raise LaminaValueError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self._data.ndim}D")
        return _ops.transpose(self, 0, 1) if self._data.ndim == 2 else self

    @property
    def mT(self) -> Tensor:
        return _ops.transpose(self, -2, -1)


def _cuda_device(index) -> str:
    if index is None:
        return "cuda"
    return index if not isinstance(index, int) else f"cuda:{index}"


def parse_to(args, kwargs, where: str):
    """Read the arguments of ``Tensor.to`` / ``Module.to``: ``(dtype)``, ``(device, dtype)``,
    ``(tensor)``, plus ``device=``, ``dtype=``, ``non_blocking=``, ``copy=``. Checks the device;
    returns ``(dtype or None, copy)``."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise LaminaTypeError(f"{where}() got unexpected keyword arguments {sorted(kwargs)}")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        dtype = other._data.dtype
    elif rest and (is_device(rest[0]) or isinstance(rest[0], int)
                   and not isinstance(rest[0], bool)):
        dev = rest.pop(0)
        if rest and not isinstance(rest[0], bool):
            dtype = rest.pop(0)
    elif rest and rest[0] is not None and not isinstance(rest[0], bool):
        dtype = rest.pop(0)
    elif rest and rest[0] is None:
        rest.pop(0)
    if len(rest) > 2 or not all(isinstance(r, bool) for r in rest):
        raise LaminaTypeError(f"{where}() received an invalid combination of arguments: {args!r}")
    if len(rest) == 2:                      # (..., non_blocking, copy)
        copy = copy or rest[1]
    if dev is not None:
        check_device(dev, where)
    return (None if dtype is None else as_dtype(dtype)), copy


def _new_size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise LaminaTypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if dim < lo or dim > hi:
        raise LaminaIndexError(
            f"{op}: Dimension out of range (expected to be in range of [{lo}, {hi}], "
            f"but got {dim})"
        )
    return dim % max(ndim, 1)


# Methods that are the op of the same name with the tensor as first argument.
_METHODS = (
    "add sub mul div pow neg exp log log1p log2 sqrt rsqrt abs sign sin cos tanh sigmoid "
    "relu leaky_relu clamp clip maximum minimum square reciprocal floor ceil round "
    "eq ne lt le gt ge logical_and logical_or logical_not logical_xor isnan isinf isfinite "
    "sum mean max min amax amin argmax argmin var std prod logsumexp norm softmax log_softmax "
    "all any cumsum "
    "tan asin acos atan arcsin arccos arctan sinh cosh asinh acosh atanh arcsinh arccosh "
    "arctanh exp2 expm1 log10 erf erfc erfinv lgamma digamma trunc fix frac sinc nan_to_num "
    "atan2 arctan2 logaddexp logaddexp2 fmod remainder copysign hypot xlogy lerp float_power "
    "floor_divide isposinf isneginf isclose allclose "
    "cumprod cummax cummin logcumsumexp sort argsort topk kthvalue median mode unique "
    "unique_consecutive bincount histc "
    "matmul mm bmm dot outer transpose permute "
    "reshape view flatten squeeze unsqueeze expand expand_as broadcast_to split chunk flip "
    "repeat view_as reshape_as unflatten "
    "gather index_select masked_fill narrow movedim take_along_dim nonzero masked_select "
    "scatter scatter_add "
    "add_ sub_ mul_ div_ zero_ fill_ copy_ clamp_ pow_ neg_ exp_ sqrt_ masked_fill_ "
    "tril triu tril_ triu_ diag diagonal diag_embed trace roll rot90 repeat_interleave "
    "tile unbind swapaxes swapdims moveaxis take scatter_reduce index_add index_copy index_fill "
    "masked_scatter scatter_ scatter_add_ scatter_reduce_ index_add_ index_copy_ index_fill_ "
    "masked_scatter_ kron cross tensordot "
    "uniform_ normal_ bernoulli_ exponential_ random_ cauchy_ log_normal_ geometric_ "
    "multinomial bernoulli"
).split()


from lamina import ops as _ops  # noqa: E402
from lamina.autograd import engine as _engine  # noqa: E402
from lamina.autograd.function import next_seq as _next_seq  # noqa: E402

# Operators that are the op function of the same arguments, attached as they are (one Python
# call per operator instead of two). Addition and multiplication commute, so their reflected
# forms (2.0 * t) are the same functions; ``a += b`` is the checked in-place op ``add_``.
_OPERATORS = {
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__mul__": "mul", "__rmul__": "mul",
    "__truediv__": "div", "__pow__": "pow", "__matmul__": "matmul", "__neg__": "neg",
    "__abs__": "abs", "__floordiv__": "floor_divide", "__mod__": "remainder",
    "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le", "__gt__": "gt",
    "__ge__": "ge", "__xor__": "logical_xor", "__invert__": "logical_not",
    "__getitem__": "getitem", "__setitem__": "setitem",
    "__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
}
for _name, _op in _OPERATORS.items():
    setattr(Tensor, _name, getattr(_ops, _op))
del _op

for _name in _METHODS:
    if hasattr(_ops, _name) and not hasattr(Tensor, _name):
        # a plain function stored on the class is a method: self is its first argument
        setattr(Tensor, _name, getattr(_ops, _name))
del _name
# sliding windows: a method only (exported, lamina.unfold would hide F.unfold)
Tensor.unfold = _ops.shaping.unfold
