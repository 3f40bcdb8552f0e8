"""Variable-length sequences for recurrent layers: ``torch.nn.utils.rnn``, reached as
``lamina.nn.utils.rnn``.

A batch of sequences of different lengths is either *padded*, one ``(T, B, *)`` tensor whose
steps past each sequence's end hold ``padding_value``, or *packed*: a ``PackedSequence`` whose
``data`` stacks the valid steps time-major, step ``t`` of every sequence longer than ``t``,
longest sequences first, so ``batch_sizes[t]`` rows belong to step ``t``::

    lengths 3, 1, 2   ->  sorted_indices [0, 2, 1], batch_sizes [3, 2, 1]
    data rows         ->  a0 c0 b0 | a1 c1 | a2

Every function here is made of differentiable ops (``index_select``, ``cat``), so gradients
flow through packing and unpacking. ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` take a
``PackedSequence`` and return one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lamina.backend import int64
from lamina.errors import LaminaValueError
from lamina.ops.indexing import index_select
from lamina.ops.movement import cat, stack
from lamina.tensor import Tensor, _make

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


class PackedSequence(NamedTuple):
    """A packed batch of sequences (see the module docstring). ``sorted_indices[i]`` is the
    original batch position of the i-th longest sequence, ``unsorted_indices`` its inverse;
    both are None when the batch came sorted (``enforce_sorted=True``)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def cpu(self) -> PackedSequence:
        return self

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _lengths(lengths) -> np.ndarray:
    arr = np.asarray(lengths._data if isinstance(lengths, Tensor) else lengths)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise LaminaValueError(f"pack_padded_sequence: lengths must be a 1-D sequence of ints, "
                               f"got {arr.dtype} of shape {arr.shape}")
    return arr.astype(np.int64)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shape ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with
    ``batch_first``), ``T = max L_i``, filling with ``padding_value`` on ``padding_side``.

    >>> pad_sequence([lamina.ones(3), lamina.ones(1)]).shape
    lamina.Size([3, 2])
    """
    if padding_side not in ("right", "left"):
        raise LaminaValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                               f"{padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise LaminaValueError("pad_sequence: received an empty list of sequences")
    t_max = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = t_max - s.shape[0]
        if n:
            fill = _make(np.full((n, *s.shape[1:]), padding_value, dtype=s.dtype))
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of
    the given ``lengths``. With ``enforce_sorted`` the lengths must be decreasing; otherwise
    the batch is sorted here and the order kept in ``sorted_indices``."""
    lengths = _lengths(lengths)
    if batch_first:
        input = input.transpose(0, 1)
    if lengths.shape[0] != input.shape[1]:
        raise LaminaValueError(f"pack_padded_sequence: got {lengths.shape[0]} lengths for a batch "
                               f"of {input.shape[1]} sequences")
    if lengths.size and lengths.min() <= 0:
        raise LaminaValueError("Length of all samples has to be greater than 0, but found an "
                               "element in 'lengths' that is <= 0")
    if lengths.size and lengths.max() > input.shape[0]:
        raise LaminaValueError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the "
                               f"padded length {input.shape[0]}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise LaminaValueError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
        order, sorted_idx, unsorted_idx = np.arange(lengths.size), None, None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_idx = _make(order.astype(int64))
        unsorted_idx = _make(np.argsort(order).astype(int64))
    return _pack(input, lengths, order, sorted_idx, unsorted_idx)


def _pack(input, lengths, order, sorted_idx, unsorted_idx) -> PackedSequence:  # noqa: A002
    """Pack time-major ``input`` whose sequences, longest first, are batch columns ``order``."""
    slen = lengths[order]
    batch_sizes = (slen[None, :] > np.arange(int(slen[0]))[:, None]).sum(1)
    # row t * B + j of the time-major (T * B, *) view, for each valid (t, j) in sorted order
    bsz = input.shape[1]
    rows = np.concatenate([t * bsz + order[:n] for t, n in enumerate(batch_sizes)])
    flat = input.reshape(input.shape[0] * bsz, *input.shape[2:])
    data = index_select(flat, 0, _make(rows.astype(int64)))
    return PackedSequence(data, _make(batch_sizes.astype(int64)), sorted_idx, unsorted_idx)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The inverse of ``pack_padded_sequence``: ``(padded, lengths)``, the batch in its
    original order, padded to ``total_length`` steps (default: the longest sequence)."""
    data, batch_sizes = sequence.data, sequence.batch_sizes._data
    t_max, bsz = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < t_max:
            raise LaminaValueError(
                f"Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{t_max}")
        t_max = total_length
    # padded position (t, j) in sorted order reads data row starts[t] + j, or the pad row
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])
    n = data.shape[0]
    idx = np.full((t_max, bsz), n, dtype=np.int64)
    for t, b in enumerate(batch_sizes):
        idx[t, :b] = starts[t] + np.arange(b)
    pad_row = _make(np.full((1, *data.shape[1:]), padding_value, dtype=data.dtype))
    padded = index_select(cat([data, pad_row], 0), 0, _make(idx.reshape(-1)))
    padded = padded.reshape(t_max, bsz, *data.shape[1:])
    lengths = (batch_sizes[None, :] > np.arange(bsz)[:, None]).sum(1)
    if sequence.unsorted_indices is not None:
        padded = index_select(padded, 1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices._data]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _make(lengths.astype(int64))


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors ``(L_i, *)``: ``pack_padded_sequence(pad_sequence(...))``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The list of tensors ``pad_sequence`` stacked, each cut to its length."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(_lengths(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of tensors ``pack_sequence`` packed."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def packed_forward(module, packed: PackedSequence, hx, forward):
    """Run recurrent ``module`` (``forward(input, hx)``, time-major) on a packed batch.

    Sequences of one length run together on their own sub-batch, so no step past a
    sequence's end touches its state: each sequence gets exactly the outputs and final state
    it would get alone (reverse directions start at its own last step). Returns the output
    packed like the input and the final state in the input's original batch order.
    """
    padded, lengths = pad_packed_sequence(packed)
    lengths = lengths._data
    lstm = module.mode == "LSTM"
    outs, h_parts, c_parts, order = [], [], [], []
    t_max = padded.shape[0]
    for n in sorted(set(lengths.tolist()), reverse=True):
        members = np.flatnonzero(lengths == n)
        sel = _make(members.astype(int64))
        x = index_select(padded[:n], 1, sel)
        h0 = None
        if hx is not None:
            h0 = tuple(index_select(s, 1, sel) for s in hx) if lstm else index_select(hx, 1, sel)
        y, h = forward(x, h0)
        if n < t_max:
            y = cat([y, _make(np.zeros((t_max - n, *y.shape[1:]), dtype=y.dtype))], 0)
        outs.append(y)
        h_parts.append(h[0] if lstm else h)
        if lstm:
            c_parts.append(h[1])
        order.extend(members.tolist())
    back = _make(np.argsort(np.asarray(order)).astype(int64))     # to the original order
    y = index_select(cat(outs, 1), 1, back)
    h_n = index_select(cat(h_parts, 1), 1, back)
    order = (np.arange(len(lengths)) if packed.sorted_indices is None
             else packed.sorted_indices._data)
    out = _pack(y, lengths, order, packed.sorted_indices, packed.unsorted_indices)
    if lstm:
        return out, (h_n, index_select(cat(c_parts, 1), 1, back))
    return out, h_n
