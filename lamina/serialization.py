"""Saving and loading tensors and state dicts in the safetensors format, with no pickle.

``lamina.save(obj, path)`` writes ``obj`` (a tensor, an array, or dicts/lists/tuples of them
mixed with plain numbers and strings, such as a model's or an optimizer's ``state_dict()``) to
one `safetensors <https://github.com/huggingface/safetensors>`_ file; ``lamina.load(path)``
reads it back. The file format, implemented here so that NumPy stays the only dependency::

    [8 bytes]  N, the header length, unsigned little-endian
    [N bytes]  a UTF-8 JSON object: {name: {"dtype": "F32", "shape": [2, 3],
                                             "data_offsets": [begin, end]}, ...,
                                      "__metadata__": {str: str}}   (optional)
    [rest]     the tensors' raw bytes, little-endian, C order; offsets count from here

Every tensor becomes one entry. Everything that is not a tensor (the nesting of dicts and lists,
int dict keys, numbers, strings, ``None``) goes, as JSON, into the ``"lamina"`` string of
``__metadata__``, so a nested optimizer state comes back exactly: ints stay ints, floats stay
floats, tuples stay tuples, the same tensor object saved twice comes back as one tensor (tied
weights stay tied). NumPy scalars come back as Python numbers. A flat ``{name: Tensor}`` dict is
stored under its own names, so other safetensors readers see the usual layout; a file written
by another tool (no ``"lamina"`` metadata) loads as a flat ``{name: Tensor}`` dict.

Saving is atomic: the bytes go to a temporary file in the target's directory
(``.NAME.lamina-tmp-<pid>-<random>``), are flushed and fsynced, and only then renamed over the
target (``os.replace``), so a crash part-way leaves any previous file untouched. A temporary
file left by a writer that was killed (its process is gone) is removed by the next save of
the same target; nothing else in the directory is touched. Overwriting a file keeps its
permission bits; a new file gets the usual mode (0o666 less the umask).

Whole modules (``torch.save(model, f)``), still with no pickle: a ``Module`` (or another object
whose class is allowed, see below) is stored as an ``"object"`` node of the same JSON: its
class by import path (``"lamina.nn.modules.linear.Linear"``, the paths PyTorch uses), an id
(so a module used twice, and cycles, come back shared) and its attributes (``__dict__``),
each encoded as above; parameters and buffers become tensors of the file named by their
dotted path (``"fc1.weight"``), so other safetensors readers see the weights. Attributes may
be plain values (``None``, bools, numbers, strings, tuples, lists, dicts, sets), tensors,
NumPy arrays and dtypes, other such objects, and functions or classes by import path
(``F.relu``, ``nn.ReLU``). Anything else (a lambda, a bound method, an open file) makes
``save`` fail naming the attribute. Forward and backward hooks are not saved (as in
PyTorch, they are not part of a model's state; a loaded module has none). A file holding
objects is format version 2.

Loading builds each object with ``object.__new__(cls)`` and restores its ``__dict__``: no
constructor, ``__setstate__`` or other code of the class runs. A class or function is looked
up only through the allow-list (PyTorch's ``weights_only`` rules): lamina's own classes
(those defined in lamina, save any with a ``__del__``, which would run on the loaded
attributes) and its math functions (from ``lamina.nn``, ``lamina.ops``, ``lamina.models``
and ``lamina.quantization``: ``F.relu``) are allowed by default; anything else only when
given to ``add_safe_globals`` or the ``safe_globals`` context manager. Nothing outside the
allow-list is ever imported or constructed; a refused name is quoted in the error with the
way to allow it. Unlike ``torch.load``, ``weights_only=False``
does not lift the allow-list.

A PyTorch ``.pt``/``.pth`` file (a pickle, zipped or not) is refused with what to do instead:
export its ``state_dict`` to safetensors with PyTorch, then ``load_state_dict`` it here.

Integrity: ``save`` records the CRC-32 of every tensor's bytes in ``__metadata__``
(``"lamina_crc32"``: a JSON object, name -> 8 hex digits, as a string); ``load`` checks them
(``verify=False`` skips the check) and names the file and the tensor when one differs. Files
without checksums (other writers) load as before.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import stat
import struct
import sys
import types
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from lamina.backend import bfloat16 as _bfloat16
from lamina.backend import canonical_dtype
from lamina.errors import LaminaError, LaminaTypeError, LaminaValueError
from lamina.nn.module import Module
from lamina.nn.parameter import Parameter
from lamina.tensor import Tensor, _make

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
           "safe_globals", "get_unsafe_globals_in_checkpoint", "UnsafeGlobalError"]

_META_KEY = "lamina"
_CRC_KEY = "lamina_crc32"
_FORMAT_VERSION = 2        # 1: tensors and plain structure; 2: also objects (modules)
_MAX_HEADER = 100 * 1024 * 1024  # the limit the reference implementation uses too

# safetensors dtype names <-> NumPy dtypes (little-endian). BF16 is read by widening to F32.
_TO_ST = {
    np.dtype("bool"): "BOOL", np.dtype("uint8"): "U8", np.dtype("int8"): "I8",
    np.dtype("uint16"): "U16", np.dtype("int16"): "I16", np.dtype("float16"): "F16",
    np.dtype("uint32"): "U32", np.dtype("int32"): "I32", np.dtype("float32"): "F32",
    np.dtype("uint64"): "U64", np.dtype("int64"): "I64", np.dtype("float64"): "F64",
}
_FROM_ST = {v: k.newbyteorder("<") for k, v in _TO_ST.items()}
if _bfloat16 is not None:       # ml_dtypes present: BF16 is kept as lamina.bfloat16
    _TO_ST[_bfloat16] = "BF16"
_ITEMSIZE = {**{k: v.itemsize for k, v in _FROM_ST.items()}, "BF16": 2}
_ALIGN = {1: 3, 2: 2, 4: 1, 8: 0}  # sort key: widest items first keeps every tensor aligned


# --- the structure of what is saved (JSON) ------------------------------------------------

# A Module's hook registries: not saved (hooks are code, not state); a loaded module gets
# empty ones.
_HOOK_KEYS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_REGISTRIES = ("_parameters", "_buffers", "_modules")


def _global_path(obj) -> str | None:
    """``"module.qualname"`` of a class or function, or None when it has no importable name
    (a lambda, a function or class defined inside a function)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}.{qualname}"


def _findable(obj, path: str) -> bool:
    """Whether the (already imported) module named in ``path`` gives back ``obj``."""
    module = sys.modules.get(obj.__module__)
    found = module
    for part in obj.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is obj


class _Encoder:
    """Walk ``obj``: tensors go to ``self.arrays`` under unique names, the rest to JSON."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._by_id: dict[int, str] = {}
        self._objects: dict[int, int] = {}   # id(object) -> its number in the file
        self._keep: list = []  # keep saved objects alive so ids stay unique during the walk
        self.version = 1       # raised to 2 when an object, function or class is saved

    def name_for(self, x, hint: str) -> str:
        key = self._by_id.get(id(x))
        if key is not None:
            return key
        name = hint or "tensor"
        if name in self.arrays or name == "__metadata__":
            i = 1
            while f"{name}#{i}" in self.arrays:
                i += 1
            name = f"{name}#{i}"
        arr = x._data if isinstance(x, Tensor) else x
        if (arr.dtype if arr.dtype.isnative else arr.dtype.newbyteorder()) not in _TO_ST:
            raise LaminaTypeError(f"save: can't store array '{name}' of dtype {arr.dtype}; "
                                  f"supported dtypes are {', '.join(str(d) for d in _TO_ST)}")
        self.arrays[name] = arr
        self._by_id[id(x)] = name
        self._keep.append(x)
        return name

    def encode(self, x, path: str, where: str):
        if isinstance(x, Tensor):
            if self.version > 1 and isinstance(x, Parameter):   # inside a saved object
                return {"param": [self.name_for(x, path), bool(x.requires_grad)]}
            return {"tensor": self.name_for(x, path)}
        if isinstance(x, np.ndarray):
            return {"ndarray": self.name_for(x, path)}
        if x is None or isinstance(x, (bool, int, str)):
            return x
        if isinstance(x, float):
            return x
        if isinstance(x, np.generic) and x.dtype.kind in "biuf":
            return x.item()
        if isinstance(x, dict):
            items = []
            for k, v in x.items():
                key = self.encode_key(k, where)
                sub = f"{path}.{k}" if path else str(k)
                items.append([key, self.encode(v, sub, f"{where}[{k!r}]")])
            odict = isinstance(x, OrderedDict) and self.version > 1   # inside an object
            return {"odict" if odict else "dict": items}
        if isinstance(x, (list, tuple)):
            vals = [self.encode(v, f"{path}.{i}" if path else str(i), f"{where}[{i}]")
                    for i, v in enumerate(x)]
            return {"tuple" if isinstance(x, tuple) else "list": vals}
        if isinstance(x, (set, frozenset)):
            self.version = 2
            vals = [self.encode_key(v, where) for v in x]
            return {"frozenset" if isinstance(x, frozenset) else "set": vals}
        if isinstance(x, np.dtype):
            self.version = 2
            return {"dtype": x.str}
        if isinstance(x, type) and issubclass(x, np.generic):
            self.version = 2
            return {"dtype_type": np.dtype(x).str}
        if isinstance(x, (type, types.FunctionType, types.BuiltinFunctionType)):
            return {"global": self.global_name(x, where)}
        if isinstance(x, Module) or (hasattr(x, "__dict__") and _plain_object(x)):
            return self.encode_object(x, path, where)
        raise LaminaTypeError(
            f"save: can't store an object of type {type(x).__name__} at {where}; lamina saves "
            "tensors, NumPy arrays, numbers, strings, None, dicts/lists/tuples/sets of them, "
            "modules and objects of importable classes, and functions and classes by import "
            "path (no pickle)"
        )

    def global_name(self, x, where: str) -> str:
        """The import path a function or class is saved under; it must lead back to it."""
        self.version = 2
        name = _global_path(x)
        if name is None or not _findable(x, name):
            raise LaminaTypeError(
                f"save: can't store {x!r} at {where}: functions and classes are saved by "
                "import path, and this one has none (a lambda, or defined inside a function); "
                "define it at the top level of a module")
        return name

    def encode_object(self, x, path: str, where: str):
        number = self._objects.get(id(x))
        if number is not None:
            return {"ref": number}    # a shared submodule, or a cycle: stored once
        self.version = 2
        cls = type(x)
        cls_name = _global_path(cls)
        if cls_name is None or not _findable(cls, cls_name):
            raise LaminaTypeError(
                f"save: can't store an object of type {cls.__name__} at {where}: objects are "
                f"saved with their class's import path, and {cls.__qualname__} has none "
                "(defined inside a function?); define the class at the top level of a module")
        number = self._objects[id(x)] = len(self._objects)
        self._keep.append(x)
        state = []
        is_module = isinstance(x, Module)
        for attr, v in x.__dict__.items():
            if is_module and attr in _HOOK_KEYS:
                continue
            if not isinstance(attr, str):
                raise LaminaTypeError(f"save: {where} has an attribute named {attr!r}, "
                                      "not a string")
            if is_module and attr in _REGISTRIES:   # tensors named like state_dict keys
                reg = [[k, self.encode(m, f"{path}.{k}" if path else k, f"{where}.{k}")]
                       for k, m in v.items()]
                state.append([attr, {"odict": reg}])
            else:
                sub = f"{path}.{attr}" if path else attr
                state.append([attr, self.encode(v, sub, f"{where}.{attr}")])
        return {"object": [cls_name, number, state]}

    def encode_key(self, k, where):
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        if isinstance(k, np.generic) and k.dtype.kind in "biuf":
            return k.item()
        if isinstance(k, tuple):
            return {"tuple": [self.encode_key(v, where) for v in k]}
        raise LaminaTypeError(f"save: can't store a dict key of type "
                              f"{type(k).__name__} at {where}; "
                              "keys (and set elements) must be str, int, float, bool, None or "
                              "tuples of them")


def _plain_object(x) -> bool:
    """Objects saved by their ``__dict__``: instances of ordinary Python classes (no
    ``__slots__`` state, no custom ``__new__``, not a builtin or extension type)."""
    cls = type(x)
    if isinstance(x, (types.ModuleType, types.MethodType, types.FunctionType)):
        return False
    if cls.__new__ is not object.__new__:
        return False
    return all("__slots__" not in vars(c) or set(c.__slots__) <= {"__dict__", "__weakref__"}
               for c in cls.__mro__[:-1])


# --- the allow-list of classes and functions a load may build or return --------------------

_SAFE_GLOBALS: list = []


def _check_entry(entry):
    if isinstance(entry, tuple):
        if (len(entry) != 2 or not isinstance(entry[1], str)
                or not callable(entry[0])):
            raise LaminaTypeError("add_safe_globals: a tuple entry must be (class or function, "
                                  f"'module.Name'), got {entry!r}")
        return entry
    if not (isinstance(entry, type) or callable(entry)) or _global_path(entry) is None:
        raise LaminaTypeError(f"add_safe_globals: expected classes or functions with an import "
                              f"path, or (object, 'module.Name') tuples, got {entry!r}")
    return entry


def add_safe_globals(safe_globals: list) -> None:
    """Allow ``load`` to build these classes (and return these functions) when a file names
    them, as ``torch.serialization.add_safe_globals`` does. Entries are classes or functions,
    or ``(obj, "module.Name")`` to allow ``obj`` under another name. lamina's own modules and
    functions are allowed without this.

    >>> lamina.serialization.add_safe_globals([Net])
    >>> model = lamina.load("model.safetensors")
    """
    if not isinstance(safe_globals, (list, tuple)):
        raise LaminaTypeError(f"add_safe_globals: expected a list, got "
                              f"{type(safe_globals).__name__}")
    _SAFE_GLOBALS.extend(_check_entry(e) for e in safe_globals)


def get_safe_globals() -> list:
    """The entries added by ``add_safe_globals`` (and open ``safe_globals`` blocks)."""
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    """Forget every entry added by ``add_safe_globals``; lamina's own stay allowed."""
    _SAFE_GLOBALS.clear()


class safe_globals:
    """Context manager allowing extra classes and functions during a block (PyTorch's
    ``torch.serialization.safe_globals``); the allow-list is restored on exit.

    >>> with lamina.serialization.safe_globals([Net]):
    ...     model = lamina.load("model.safetensors")
    """

    def __init__(self, safe_globals: list):
        if not isinstance(safe_globals, (list, tuple)):
            raise LaminaTypeError(f"safe_globals: expected a list, got "
                                  f"{type(safe_globals).__name__}")
        self.safe_globals = [_check_entry(e) for e in safe_globals]

    def __enter__(self):
        self._saved = list(_SAFE_GLOBALS)
        _SAFE_GLOBALS.extend(self.safe_globals)
        return self

    def __exit__(self, *exc):
        _SAFE_GLOBALS[:] = self._saved
        return False


# lamina's functions a file may name by default: its math, not its file or process tools
_DEFAULT_FUNCTIONS = ("lamina.nn.", "lamina.ops.", "lamina.models.", "lamina.quantization.")


class UnsafeGlobalError(LaminaError):
    """A file names a class or function outside the allow-list (raised as is by ``load``)."""


_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _lamina_global(name: str):
    """The lamina class or function ``name`` names, or None. Only lamina's own modules are
    looked in (and imported if need be)."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        found = module
        for part in parts[i:]:
            found = getattr(found, part, None)
        return found
    return None


def _resolve(name, path, build: bool):
    """The class or function that the file names ``name``, if the allow-list allows it.

    ``build``: the file asks for an instance of it (then it must be a class whose instances
    are plain objects). lamina's own classes and functions are allowed by default (classes
    with a ``__del__`` excepted: nothing of a class may run on the loaded attributes). Raises
    an ``UnsafeGlobalError`` naming ``name`` otherwise; a name outside the allow-list is
    never imported."""
    allowed = {}
    for entry in _SAFE_GLOBALS:
        if isinstance(entry, tuple):
            allowed[entry[1]] = entry[0]
        else:
            allowed[_global_path(entry)] = entry
    obj = allowed.get(name)
    if obj is None and isinstance(name, str) and _NAME.fullmatch(name) \
            and name.startswith("lamina."):
        obj = _lamina_global(name)
        home = str(getattr(obj, "__module__", ""))
        lamina_own = ((isinstance(obj, type) and home.startswith("lamina."))
                      or (isinstance(obj, types.FunctionType)
                          and home.startswith(_DEFAULT_FUNCTIONS)))
        if not lamina_own or (build and any("__del__" in vars(c) for c in obj.__mro__)):
            obj = None    # a finalizer would run code on the file's attributes: never
    if obj is None:
        kind = "class" if build else "global"
        short = name.rpartition(".")[2] if isinstance(name, str) else name
        raise UnsafeGlobalError(
            f"load: {path} names the {kind} {name!r}, which is not allowed: lamina never "
            "imports or builds a class outside the allow-list (its own classes, and what "
            "lamina.serialization.add_safe_globals or the safe_globals context manager "
            f"allow). If you trust this file, import {short} and load under "
            f"`with lamina.serialization.safe_globals([{short}]):`")
    if build and not (isinstance(obj, type) and obj.__new__ is object.__new__):
        raise UnsafeGlobalError(f"load: {path} asks to build an instance of {name!r}, which is not "
                          "a class of plain Python objects")
    return obj


class _Decoder:
    """Rebuild the saved structure from its JSON and the file's arrays."""

    _V2_KINDS = {"param", "odict", "set", "frozenset", "dtype", "dtype_type", "global", "ref",
                 "object"}

    def __init__(self, tensors: dict, path, version: int):
        self.tensors = tensors
        self.path = path
        self.version = version
        self.cache: dict = {}      # one Tensor per stored name (tied weights stay tied)
        self.objects: dict = {}    # object number -> the rebuilt object

    def tensor(self, name, kind):
        if name not in self.tensors:
            raise LaminaValueError(f"the structure refers to tensor {name!r}, which the "
                                   "file does not contain")
        arr = self.tensors[name]
        if kind == "ndarray":
            return arr
        t = self.cache.get(name)
        if t is None:
            t = _as_new_tensor(arr, name, self.path)
            if kind == "param":
                t = Parameter(t, requires_grad=False)
            self.cache[name] = t
        return t

    def decode(self, node):
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise LaminaValueError(f"malformed structure node {node!r}")
        (kind, val), = node.items()
        if kind == "tensor" or kind == "ndarray":
            return self.tensor(val, kind)
        if self.version < 2 and kind in self._V2_KINDS:
            raise LaminaValueError(f"unknown structure node kind {kind!r} (in a version "
                                   f"{self.version} file)")
        if kind == "param":
            name, requires_grad = val
            p = self.tensor(name, "param")
            p.requires_grad = bool(requires_grad)
            return p
        if kind == "dict":
            return {_decode_key(k): self.decode(v) for k, v in val}
        if kind == "odict":
            return OrderedDict((_decode_key(k), self.decode(v)) for k, v in val)
        if kind == "list":
            return [self.decode(v) for v in val]
        if kind == "tuple":
            return tuple(self.decode(v) for v in val)
        if kind == "set" or kind == "frozenset":
            vals = (_decode_key(v) for v in val)
            return set(vals) if kind == "set" else frozenset(vals)
        if kind == "dtype":
            return np.dtype(val)
        if kind == "dtype_type":
            return np.dtype(val).type
        if kind == "global":
            return _resolve(val, self.path, build=False)
        if kind == "ref":
            if val not in self.objects:
                raise LaminaValueError(f"reference to object {val!r} before it is defined")
            return self.objects[val]
        if kind == "object":
            return self.decode_object(*val)
        raise LaminaValueError(f"unknown structure node kind {kind!r}")

    def decode_object(self, cls_name, number, state):
        cls = _resolve(cls_name, self.path, build=True)
        obj = object.__new__(cls)            # no constructor, no __setstate__: no code runs
        self.objects[number] = obj           # before its attributes: cycles resolve to it
        attrs = {}
        for attr, v in state:
            if not isinstance(attr, str):
                raise LaminaValueError(f"attribute name {attr!r} is not a string")
            attrs[attr] = self.decode(v)
        if isinstance(obj, Module):
            for key in _HOOK_KEYS:
                attrs[key] = OrderedDict()
        obj.__dict__.update(attrs)
        return obj


def _decode_key(k):
    if isinstance(k, dict):
        return tuple(_decode_key(v) for v in k["tuple"])
    return k


# --- writing ------------------------------------------------------------------------------

def _le_contiguous(arr: np.ndarray) -> np.ndarray:
    """The array as C-contiguous little-endian bytes (copies only when needed).

    Strided and transposed arrays are copied into C order first: writing their buffer as is
    would store the elements in memory order, not index order (the bug of safetensors#825).
    """
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # (not np.ascontiguousarray: it turns 0-d arrays into 1-d ones)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _serialize(obj, metadata) -> tuple[bytes, list[np.ndarray]]:
    enc = _Encoder()
    flat = (isinstance(obj, dict) and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, Tensor) for v in obj.values()))
    if flat:  # a model state dict: its names are the tensor names, as other tools expect
        root = {"dict": [[k, {"tensor": enc.name_for(v, k)}] for k, v in obj.items()]}
    else:
        plain = isinstance(obj, (dict, list, tuple, Tensor, np.ndarray))
        root = enc.encode(obj, "", "the top level" if plain else type(obj).__name__)

    meta = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise LaminaTypeError("save: metadata must be a dict of str -> str")
        for key in (_META_KEY, _CRC_KEY):
            if key in metadata:
                raise LaminaValueError(f"save: metadata key {key!r} is reserved by lamina")
        meta.update(metadata)
    meta[_META_KEY] = json.dumps({"version": enc.version, "root": root},
                                 separators=(",", ":"))

    arrays = {k: _le_contiguous(a) for k, a in enc.arrays.items()}
    meta[_CRC_KEY] = json.dumps({k: f"{_crc32(a):08x}" for k, a in arrays.items()},
                                separators=(",", ":"))
    order = sorted(arrays, key=lambda k: _ALIGN.get(arrays[k].dtype.itemsize, 0))
    header = {"__metadata__": meta}
    offset = 0
    chunks = []
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _TO_ST[a.dtype.newbyteorder("=")],
                        "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        chunks.append(a)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)  # pad so the data starts 8-byte aligned
    return struct.pack("<Q", len(hbytes)) + hbytes, chunks


def _crc32(a) -> int:
    """CRC-32 (zlib's) of an array's bytes in C order, or of a bytes-like object."""
    if isinstance(a, np.ndarray):
        a = memoryview(a.reshape(-1).view(np.uint8)) if a.nbytes else b""
    return zlib.crc32(a) & 0xFFFFFFFF


def _write_to(f, head: bytes, chunks) -> None:
    f.write(head)
    for a in chunks:
        if a.nbytes:
            f.write(memoryview(a.reshape(-1).view(np.uint8)))


def save(obj, f, metadata: dict[str, str] | None = None) -> None:
    """Save tensors and plain Python structure to a safetensors file, atomically.

    Args:
        obj: a ``Tensor``/array, or dicts (keys str/int/float/bool/None/tuples),
            lists and tuples of tensors, arrays, numbers, strings and ``None``; for example
            ``model.state_dict()`` or ``optimizer.state_dict()``.
        f: a path (str or ``os.PathLike``), or a binary file object (written in place, not
            atomically).
        metadata: optional extra ``str -> str`` entries for the header's ``__metadata__``.

    Raises:
        TypeError: for objects that are not tensors, arrays or plain structure (nothing is
            pickled), or for unsupported dtypes.

    >>> lamina.save(model.state_dict(), "model.safetensors")
    >>> model.load_state_dict(lamina.load("model.safetensors"))
    """
    head, chunks = _serialize(obj, metadata)
    if hasattr(f, "write") and not isinstance(f, (str, bytes, os.PathLike)):
        _write_to(f, head, chunks)
        return
    path = os.fspath(f)
    if isinstance(path, bytes):
        path = os.fsdecode(path)

    def write(fh):
        _write_to(fh, head, chunks)

    _atomic_write(path, write, "save")


# --- atomic replacement (shared with the training logs) ------------------------------------

_TMP_TAG = ".lamina-tmp-"


def _tmp_pattern(base: str):
    """Matches the temporary files of ``_atomic_write`` for the target named ``base``."""
    return re.compile(re.escape(f".{base}{_TMP_TAG}") + r"(\d+)-[0-9a-f]{12}")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be running (True when that can't be told)."""
    if os.name != "posix":   # os.kill on Windows terminates the process: never probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # EPERM: it exists, under another user
        return True
    return True


def _remove_stale_tmp(directory: str, base: str) -> None:
    """Remove what interrupted saves of ``base`` left: lamina's temporary files for that
    target whose writer process no longer exists. Other files are never touched."""
    pattern = _tmp_pattern(base)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue             # a save in progress (this process's or another's)
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass


def _atomic_write(path: str, write, op: str, text: bool = False) -> None:
    """Write a file through ``write(fh)`` atomically: to a temporary file in the same
    directory, flushed and fsynced, then ``os.replace``d over ``path``. The previous file's
    permission bits are kept; errors name ``path``, not the temporary file."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{op}: directory {directory!r} of {path!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{op}: {path!r} is a directory, not a file")
    base = os.path.basename(path)
    _remove_stale_tmp(directory, base)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None              # a new file: the umask decides
    tmp = os.path.join(directory, f".{base}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(6)}")
    try:
        # O_EXCL: never clobber a file of the same name; mode 0o666 so the umask applies
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except OSError as e:
        raise type(e)(e.errno, f"{op}: cannot write {path!r} (creating a temporary file "
                      f"in {directory!r}): {e.strerror}") from None
    try:
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None:
            raise type(e)(e.errno, f"{op}: cannot write {path!r}: {e.strerror}") from None
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories can't be opened."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --- reading ------------------------------------------------------------------------------

def _bad(path, what):
    return ValueError(f"load: {path} is not a valid safetensors file: {what}")


def _parse_header(raw: bytes, path, data_len: int) -> tuple[dict, dict]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _bad(path, f"the header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise _bad(path, f"the header is a JSON {type(header).__name__}, expected an object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad(path, "__metadata__ must be an object of string values")
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise _bad(path, f"entry {name!r} is not an object")
        dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _ITEMSIZE:
            raise _bad(path, f"tensor {name!r} has unknown or unsupported dtype {dtype!r}; "
                       f"expected one of {sorted(_ITEMSIZE)}")
        if (not isinstance(shape, list) or not all(
                type(s) is int and s >= 0 for s in shape)):
            raise _bad(path, f"tensor {name!r} has invalid shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(
                type(o) is int and o >= 0 for o in offs) or offs[0] > offs[1]):
            raise _bad(path, f"tensor {name!r} has invalid data_offsets {offs!r}")
        nbytes = int(np.prod(shape, dtype=object)) * _ITEMSIZE[dtype]
        if offs[1] - offs[0] != nbytes:
            raise _bad(path, f"tensor {name!r} of dtype {dtype} and shape {tuple(shape)} "
                       f"needs {nbytes} bytes but data_offsets {offs} span "
                       f"{offs[1] - offs[0]}")
        if offs[1] > data_len:
            raise _bad(path, f"tensor {name!r} ends at byte {offs[1]} of the data but the data "
                       f"has only {data_len} bytes (truncated file?)")
        entries[name] = (dtype, tuple(shape), offs[0], offs[1])
    # Like the reference reader: the tensors tile the data exactly, with no gaps or overlaps.
    end = 0
    for name, (_, _, b, e) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if b != end:
            raise _bad(path, f"tensor {name!r} starts at byte {b} of the data, expected {end} "
                       "(overlapping tensors or a gap)")
        end = e
    if end != data_len:
        raise _bad(path, f"the tensors cover {end} bytes but the data has {data_len}")
    return entries, meta


def _read_exact(fh, n: int) -> bytes:
    b = fh.read(n)
    return b if b is not None else b""


_PT_REMEDY = ("lamina never unpickles (a pickle can run any code). Export the weights to "
              "safetensors with PyTorch: `from safetensors.torch import save_file; "
              "save_file(model.state_dict(), 'model.safetensors')`, then in lamina "
              "`model.load_state_dict(lamina.load('model.safetensors'))`")


def _refuse_pickle(first: bytes, fh, path) -> None:
    """Refuse a PyTorch ``torch.save`` file with the remedy: a zip holding ``data.pkl``
    (PyTorch >= 1.6) or a bare pickle (the legacy format; protocol 2 and up start 0x80).
    Called only once the file is known not to be safetensors (whose first bytes, a header
    length, can look alike)."""
    if first[:4] == b"PK\x03\x04":
        names = []
        try:
            fh.seek(0)
            with zipfile.ZipFile(fh) as z:
                names = z.namelist()
        except (OSError, ValueError, zipfile.BadZipFile):
            pass
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise LaminaError(f"load: {path} is a PyTorch checkpoint (torch.save's zip file "
                              f"with a pickle); {_PT_REMEDY}")
        raise _bad(path, "it is a zip file")
    if first[:1] == b"\x80" and first[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise LaminaError(f"load: {path} is a pickle file (PyTorch's legacy torch.save format "
                          f"or Python's pickle); {_PT_REMEDY}")


def _read(fh, path, size: int | None):
    """Header entries, metadata and the data as one writable uint8 array."""
    first = _read_exact(fh, 8)
    if len(first) < 8:
        raise _bad(path, f"it has {len(first)} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", first)
    if n > _MAX_HEADER:
        _refuse_pickle(first, fh, path)
        raise _bad(path, f"header length {n} exceeds the {_MAX_HEADER}-byte limit")
    raw = _read_exact(fh, n)
    if len(raw) < n:
        raise _bad(path, f"header length {n} runs past the end of the file, which has only "
                   f"{8 + len(raw)} bytes (truncated file?)")
    if n < 2 or raw[:1] != b"{":
        _refuse_pickle(first, fh, path)
        raise _bad(path, "the header does not start with '{'")
    if size is not None:  # a real file: read the data straight into one writable buffer
        data = np.empty(max(size - 8 - n, 0), dtype=np.uint8)
        got = fh.readinto(memoryview(data)) if data.size else 0
        data = data[:got]
    else:
        data = np.frombuffer(bytearray(_read_exact(fh, -1)), dtype=np.uint8)
    entries, meta = _parse_header(raw, path, data.size)
    return entries, meta, data


def _to_arrays(entries, data) -> dict[str, np.ndarray]:
    arrays = {}
    for name, (dtype, shape, b, e) in sorted(entries.items(), key=lambda kv: kv[1][2]):
        chunk = data[b:e]
        if dtype == "BF16" and _bfloat16 is not None:
            arr = (chunk.copy() if b % 2 else chunk).view(_bfloat16)
        elif dtype == "BF16":  # no ml_dtypes: bfloat16 is the top half of a float32
            arr = (chunk.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            dt = _FROM_ST[dtype]
            if b % dt.itemsize:  # unaligned (possible in foreign files): copy to align
                chunk = chunk.copy()
            arr = chunk.view(dt).astype(dt.newbyteorder("="), copy=False)
        arrays[name] = arr.reshape(shape)
    return arrays


def _verify(entries, meta, data, path) -> None:
    """Compare each tensor's bytes with the CRC-32 that ``save`` recorded (if any)."""
    raw = meta.get(_CRC_KEY)
    if raw is None:
        return                   # written by another tool: nothing to check against
    try:
        sums = json.loads(raw)
        if not isinstance(sums, dict):
            raise LaminaTypeError(f"a JSON {type(sums).__name__}, expected an object")
        sums = {k: int(v, 16) for k, v in sums.items()}
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise _bad(path, f"the checksums in __metadata__[{_CRC_KEY!r}] are unreadable ({e}); "
                   "load(..., verify=False) skips the check") from None
    for name, want in sums.items():
        if name not in entries:
            raise _bad(path, f"it records a checksum for tensor {name!r}, which it does not "
                       "contain")
        _, _, b, e = entries[name]
        got = _crc32(data[b:e])
        if got != want:
            raise LaminaValueError(
                f"load: {path} is damaged: the bytes of tensor {name!r} have CRC-32 "
                f"{got:08x}, the file recorded {want:08x} when it was saved (a flipped or "
                "overwritten byte); load(..., verify=False) reads it anyway")


def _open_regular(path: str):
    """Open ``path`` for reading, refusing at once (without blocking) anything that is not a
    regular file: a directory, a FIFO, a socket or a device."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat tells what it is
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {path!r}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"load: {path!r} is a directory, not a file") from None
    except OSError as e:
        raise type(e)(e.errno, f"load: cannot open {path!r}: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(f"load: {path!r} is a directory, not a file")
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                    "a socket" if stat.S_ISSOCK(mode) else
                    "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                    "not a regular file")
            raise LaminaValueError(f"load: {path!r} is {kind}; expected a regular safetensors file")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load(f, map_location=None, weights_only=None, *, verify: bool = True):
    """Load what ``save`` wrote (or any safetensors file) from a path or binary file object.

    ``map_location`` and ``weights_only`` are accepted so ``torch.load`` calls port unchanged
    and are ignored: tensors live on the CPU, and loading never runs code (there is no pickle).

    Returns the saved structure with ``Tensor`` leaves (saved NumPy arrays come back as arrays).
    A file without lamina's structure metadata (written by another tool) loads as a flat
    ``{name: Tensor}`` dict in file order; U16/U32/U64 become int64 and BF16 becomes
    bfloat16 (float32 without ml_dtypes); every other dtype is kept. The tensors of one file
    share one buffer read from it.

    With ``verify=True`` (default) each tensor's bytes are checked against the CRC-32 that
    ``save`` recorded; files without checksums (other writers) load unchecked.

    Raises:
        FileNotFoundError: the path does not exist.
        IsADirectoryError: the path is a directory.
        ValueError: the path is not a regular file (a FIFO, a device), or the file is
            truncated, damaged (a checksum differs) or not a safetensors file, or a U64
            tensor holds values beyond int64; the message names the path and the problem.

    >>> state = lamina.load("model.safetensors")
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with _open_regular(path) as fh:
            entries, meta, data = _read(fh, path, os.fstat(fh.fileno()).st_size)
    else:
        path = repr(getattr(f, "name", f"<{type(f).__name__}>"))
        entries, meta, data = _read(f, path, None)
    if verify:
        _verify(entries, meta, data, path)
    arrays = _to_arrays(entries, data)

    spec = meta.get(_META_KEY)
    if spec is None:
        return {k: _as_new_tensor(a, k, path) for k, a in arrays.items()}
    try:
        spec = json.loads(spec)
        root = spec["root"]
        version = spec["version"]
    except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as e:
        raise _bad(path, f"the lamina structure metadata is invalid: {e}") from None
    if type(version) is not int:
        raise _bad(path, f"the lamina format version {version!r} is not an int")
    if version > _FORMAT_VERSION:
        raise LaminaValueError(f"load: {path} was written by a newer lamina (format version "
                               f"{version}, this one reads up to {_FORMAT_VERSION})")
    try:
        return _Decoder(arrays, path, version).decode(root)
    except (_U64Overflow, UnsafeGlobalError):
        raise
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise _bad(path, f"the lamina structure metadata is invalid: {e}") from None


_INT64_MAX = np.iinfo(np.int64).max


class _U64Overflow(ValueError):
    """A U64 tensor that int64 can't hold (raised as is, not as a metadata error)."""


def _as_int64_ok(arr, name, path) -> None:
    # lamina has no uint64: a U64 tensor becomes int64, which must not wrap around
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise _U64Overflow(f"load: {path}: tensor {name!r} is U64 with values up to "
                         f"{int(arr.max())}, beyond int64's {_INT64_MAX}; lamina has no "
                         "uint64 dtype, so it cannot be loaded without wrapping around")


def _as_new_tensor(arr, name=None, path=None):
    if name is not None:
        _as_int64_ok(arr, name, path)
    d = canonical_dtype(arr.dtype)
    return _make(arr if d == arr.dtype else arr.astype(d))


def get_unsafe_globals_in_checkpoint(f) -> list[str]:
    """The class and function names in a file that ``load`` would refuse under the current
    allow-list (``torch.serialization.get_unsafe_globals_in_checkpoint``): what to pass to
    ``safe_globals`` if you trust the file. Nothing named is imported.

    >>> lamina.serialization.get_unsafe_globals_in_checkpoint("model.safetensors")
    ['__main__.Net']
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with _open_regular(path) as fh:
            _, meta, _ = _read(fh, path, os.fstat(fh.fileno()).st_size)
    else:
        path = repr(getattr(f, "name", f"<{type(f).__name__}>"))
        _, meta, _ = _read(f, path, None)
    try:
        root = json.loads(meta.get(_META_KEY, '{"root": null}'))["root"]
    except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as e:
        raise _bad(path, f"the lamina structure metadata is invalid: {e}") from None
    names: set = set()
    stack = [root]
    while stack:                      # every "object" and "global" node of the structure
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if len(node) == 1 and "object" in node and isinstance(node["object"], list) \
                    and node["object"]:
                names.add((node["object"][0], True))
            elif len(node) == 1 and "global" in node:
                names.add((node["global"], False))
            stack.extend(node.values())
    refused = set()
    for name, build in names:
        try:
            _resolve(name, path, build)
        except UnsafeGlobalError:
            refused.add(str(name))
    return sorted(refused)
