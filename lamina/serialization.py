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

Saving is atomic: the bytes go to a temporary file in the target's directory, are flushed and
fsynced, and only then renamed over the target (``os.replace``), so a crash part-way leaves
any previous file untouched.
"""

from __future__ import annotations

import json
import os
import secrets
import struct

import numpy as np

from lamina.backend import canonical_dtype
from lamina.tensor import Tensor, _make

__all__ = ["save", "load"]

_META_KEY = "lamina"
_FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024  # the limit the reference implementation uses too

# safetensors dtype names <-> NumPy dtypes (little-endian). BF16 is read by widening to F32.
_TO_ST = {
    np.dtype("bool"): "BOOL", np.dtype("uint8"): "U8", np.dtype("int8"): "I8",
    np.dtype("uint16"): "U16", np.dtype("int16"): "I16", np.dtype("float16"): "F16",
    np.dtype("uint32"): "U32", np.dtype("int32"): "I32", np.dtype("float32"): "F32",
    np.dtype("uint64"): "U64", np.dtype("int64"): "I64", np.dtype("float64"): "F64",
}
_FROM_ST = {v: k.newbyteorder("<") for k, v in _TO_ST.items()}
_ITEMSIZE = {**{k: v.itemsize for k, v in _FROM_ST.items()}, "BF16": 2}
_ALIGN = {1: 3, 2: 2, 4: 1, 8: 0}  # sort key: widest items first keeps every tensor aligned


# --- the structure of what is saved (JSON) ------------------------------------------------

class _Encoder:
    """Walk ``obj``: tensors go to ``self.arrays`` under unique names, the rest to JSON."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._by_id: dict[int, str] = {}
        self._keep: list = []  # keep saved objects alive so ids stay unique during the walk

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
        arr = x.data if isinstance(x, Tensor) else x
        if (arr.dtype if arr.dtype.isnative else arr.dtype.newbyteorder()) not in _TO_ST:
            raise TypeError(f"save: can't store array '{name}' of dtype {arr.dtype}; "
                            f"supported dtypes are {', '.join(str(d) for d in _TO_ST)}")
        self.arrays[name] = arr
        self._by_id[id(x)] = name
        self._keep.append(x)
        return name

    def encode(self, x, path: str, where: str):
        if isinstance(x, Tensor):
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
            return {"dict": items}
        if isinstance(x, (list, tuple)):
            vals = [self.encode(v, f"{path}.{i}" if path else str(i), f"{where}[{i}]")
                    for i, v in enumerate(x)]
            return {"tuple" if isinstance(x, tuple) else "list": vals}
        raise TypeError(
            f"save: can't store an object of type {type(x).__name__} at {where}; lamina saves "
            "tensors, NumPy arrays, numbers, strings, None and dicts/lists/tuples of them "
            "(no pickle)"
        )

    def encode_key(self, k, where):
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        if isinstance(k, np.generic) and k.dtype.kind in "biuf":
            return k.item()
        if isinstance(k, tuple):
            return {"tuple": [self.encode_key(v, where) for v in k]}
        raise TypeError(f"save: can't store a dict key of type {type(k).__name__} at {where}; "
                        "keys must be str, int, float, bool, None or tuples of them")


def _decode(node, tensors: dict, path, cache: dict):
    if isinstance(node, dict):
        if len(node) != 1:
            raise ValueError(f"malformed structure node {node!r}")
        (kind, val), = node.items()
        if kind == "tensor" or kind == "ndarray":
            if val not in tensors:
                raise ValueError(f"the structure refers to tensor {val!r}, which the "
                                 "file does not contain")
            arr = tensors[val]
            return _as_tensor(val, arr, cache) if kind == "tensor" else arr
        if kind == "dict":
            return {_decode_key(k, path): _decode(v, tensors, path, cache) for k, v in val}
        if kind == "list":
            return [_decode(v, tensors, path, cache) for v in val]
        if kind == "tuple":
            return tuple(_decode(v, tensors, path, cache) for v in val)
        raise ValueError(f"unknown structure node kind {kind!r}")
    return node


def _decode_key(k, path):
    if isinstance(k, dict):
        return tuple(_decode_key(v, path) for v in k["tuple"])
    return k


def _as_tensor(name, arr, cache):
    # One Tensor per stored name, so a tensor saved under two keys comes back shared.
    t = cache.get(name)
    if t is None:
        t = cache[name] = _as_new_tensor(arr)
    return t


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
        root = enc.encode(obj, "", "the top level")

    meta = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: metadata must be a dict of str -> str")
        if _META_KEY in metadata:
            raise ValueError(f"save: metadata key {_META_KEY!r} is reserved by lamina")
        meta.update(metadata)
    meta[_META_KEY] = json.dumps({"version": _FORMAT_VERSION, "root": root},
                                 separators=(",", ":"))

    arrays = {k: _le_contiguous(a) for k, a in enc.arrays.items()}
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


def _write_to(f, head: bytes, chunks) -> None:
    f.write(head)
    for a in chunks:
        if a.nbytes:
            f.write(memoryview(a.reshape(-1)).cast("B"))


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
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: directory {directory!r} of {path!r} does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber a file of the same name; mode 0o666 so the umask applies as usual
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_to(fh, head, chunks)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
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


def _read(fh, path, size: int | None):
    """Header entries, metadata and the data as one writable uint8 array."""
    first = _read_exact(fh, 8)
    if len(first) < 8:
        raise _bad(path, f"it has {len(first)} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", first)
    if n > _MAX_HEADER:
        raise _bad(path, f"header length {n} exceeds the {_MAX_HEADER}-byte limit")
    raw = _read_exact(fh, n)
    if len(raw) < n:
        raise _bad(path, f"header length {n} runs past the end of the file, which has only "
                   f"{8 + len(raw)} bytes (truncated file?)")
    if n < 2 or raw[:1] != b"{":
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
        if dtype == "BF16":  # bfloat16 is the top half of a float32
            arr = (chunk.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            dt = _FROM_ST[dtype]
            if b % dt.itemsize:  # unaligned (possible in foreign files): copy to align
                chunk = chunk.copy()
            arr = chunk.view(dt).astype(dt.newbyteorder("="), copy=False)
        arrays[name] = arr.reshape(shape)
    return arrays


def load(f, map_location=None, weights_only=None):
    """Load what ``save`` wrote (or any safetensors file) from a path or binary file object.

    ``map_location`` and ``weights_only`` are accepted so ``torch.load`` calls port unchanged
    and are ignored: tensors live on the CPU, and loading never runs code (there is no pickle).

    Returns the saved structure with ``Tensor`` leaves (saved NumPy arrays come back as arrays).
    A file without lamina's structure metadata (written by another tool) loads as a flat
    ``{name: Tensor}`` dict in file order; its integer dtypes become int64 and F16/BF16 become
    float32 (lamina's dtypes). The tensors of one file share one buffer read from it.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is truncated, corrupted or not a safetensors file; the message
            names the path and the problem.

    >>> state = lamina.load("model.safetensors")
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"load: no such file: {path!r}") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"load: {path!r} is a directory, not a file") from None
        with fh:
            entries, meta, data = _read(fh, path, os.fstat(fh.fileno()).st_size)
    else:
        path = repr(getattr(f, "name", f"<{type(f).__name__}>"))
        entries, meta, data = _read(f, path, None)
    arrays = _to_arrays(entries, data)

    spec = meta.get(_META_KEY)
    if spec is None:
        return {k: _as_new_tensor(a) for k, a in arrays.items()}
    try:
        spec = json.loads(spec)
        root = spec["root"]
        version = spec["version"]
    except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as e:
        raise _bad(path, f"the lamina structure metadata is invalid: {e}") from None
    if type(version) is not int:
        raise _bad(path, f"the lamina format version {version!r} is not an int")
    if version > _FORMAT_VERSION:
        raise ValueError(f"load: {path} was written by a newer lamina (format version "
                         f"{version}, this one reads up to {_FORMAT_VERSION})")
    try:
        return _decode(root, arrays, path, {})
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise _bad(path, f"the lamina structure metadata is invalid: {e}") from None


def _as_new_tensor(arr):
    d = canonical_dtype(arr.dtype)
    return _make(arr if d == arr.dtype else arr.astype(d))

