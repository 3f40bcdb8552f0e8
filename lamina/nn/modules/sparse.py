"""``Embedding`` and its functional form ``embedding`` (PyTorch's ``torch.nn.modules.sparse``
path: ``lamina.nn.modules.sparse.Embedding``)."""

from __future__ import annotations

import numpy as np

from lamina import creation
from lamina.autograd.function import Function
from lamina.autograd.grad_mode import no_grad
from lamina.errors import LaminaIndexError, LaminaTypeError, LaminaValueError
from lamina.nn import init
from lamina.nn.modules.module import Module
from lamina.nn.parameter import Parameter
from lamina.tensor import Tensor

__all__ = ["Embedding", "embedding"]


# --- embedding -------------------------------------------------------------------------------

class EmbeddingFn(Function):
    """Row lookup ``weight[idx]``; backward sums the gradient rows of equal indices with one
    sort and ``np.add.reduceat`` (no ``np.add.at``)."""

    @staticmethod
    def forward(ctx, weight, idx, padding_idx):
        ctx.shape = weight.shape
        ctx.idx = idx
        return weight[idx]

    @staticmethod
    def backward(ctx, g):
        idx = ctx.idx.reshape(-1)
        dim = ctx.shape[1]
        g2 = g.reshape(-1, dim)
        gw = np.zeros(ctx.shape, g.dtype)
        if idx.size:
            order = np.argsort(idx, kind="stable")
            s = idx[order]
            starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
            gw[s[starts]] = np.add.reduceat(g2[order], starts, axis=0)
        pad = ctx.inputs[2]
        if pad is not None:
            gw[pad] = 0
        return gw, None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` ``(num_embeddings, dim)`` for an integer ``input`` of any
    shape; the output has shape ``input.shape + (dim,)``. Rows at ``padding_idx`` get no
    gradient. With ``max_norm``, looked-up rows whose ``norm_type`` norm exceeds it are
    renormalized in place first (as in PyTorch).

    >>> embedding(lamina.tensor([[0, 2]]), lamina.randn(5, 3)).shape
    (1, 2, 3)
    """
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse are not supported")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise LaminaTypeError(f"embedding: expected an integer index tensor, got {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise LaminaIndexError(f"embedding: index out of range: indices must be in [0, {n}), got "
                         f"min {idx.min()} and max {idx.max()}")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise LaminaValueError(f"embedding: padding_idx must be within num_embeddings ({n}), "
                                   f"got {padding_idx}")
        padding_idx = padding_idx % n
    if max_norm is not None:
        rows = np.unique(idx)
        w = weight._data
        norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
        scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        with no_grad():
            w[rows] *= scale[:, None].astype(w.dtype)
    return EmbeddingFn.apply(weight, idx, padding_idx)


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, initialized
    N(0, 1) (the ``padding_idx`` row zero), PyTorch's ``nn.Embedding``.

    >>> nn.Embedding(10, 4, padding_idx=0)(lamina.tensor([1, 0, 3])).shape
    (3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise LaminaValueError(f"Embedding: {name} must be a non-negative int, got {v!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise LaminaValueError("Embedding: padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise LaminaValueError("Embedding: shape of _weight does not match num_embeddings "
                                       "and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None,
                        max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False):
        """An ``Embedding`` holding ``embeddings`` (2-D), frozen by default."""
        if embeddings.ndim != 2:
            raise LaminaValueError("Embedding.from_pretrained: embeddings must be 2-D")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def forward(self, input) -> Tensor:
        p = self._parameters
        w = p["weight"] if "weight" in p else self.weight   # else pruned (nn.utils.prune)
        return embedding(input, w, self.padding_idx, self.max_norm,
                         self.norm_type, self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
