"""The deep belief network (Hinton, Osindero and Teh, "A fast learning algorithm for deep
belief nets", 2006; Hinton and Salakhutdinov, 2006): RBMs pre-trained greedily, one layer at a
time, then unrolled into a sigmoid MLP and fine-tuned as a classifier by backpropagation."""

from __future__ import annotations

import numpy as np

from lamina import nn
from lamina.autograd import no_grad
from lamina.errors import LaminaValueError
from lamina.models._checks import as_unit, check_int, make_rng
from lamina.models.boltzmann import RBM
from lamina.tensor import Tensor

__all__ = ["DBN"]


class DBN(nn.Module):
    """A stack of Bernoulli RBMs ``sizes[0]-sizes[1]-...-sizes[-1]`` and the classifier they
    initialize::

        classifier = Sequential(Linear(sizes[0], sizes[1]), Sigmoid(), ...,
                                Linear(sizes[-2], sizes[-1]), Sigmoid(),
                                Linear(sizes[-1], n_classes))        # logits

    ``pretrain`` fits ``rbms[0]`` on the data, then each next RBM on the hidden
    probabilities ``p(h | v)`` of the one below (greedy layer-wise training), and copies every
    RBM's ``weight`` and ``h_bias`` into the matching ``Linear`` (their layouts agree:
    ``(out, in)``). Fine-tune ``classifier`` (this module's ``forward``) with any optimizer
    and ``nn.CrossEntropyLoss``; without ``pretrain`` it is a randomly initialized sigmoid MLP,
    the baseline pre-training is compared with.

    Args:
        sizes: the layer sizes, input first (at least two); inputs in [0, 1].
        n_classes: the classifier's outputs.
        seed: for the RBMs' initialization (the Linear layers use lamina's global generator).

    >>> dbn = DBN([64, 128, 64], n_classes=10, seed=0)
    >>> dbn.pretrain(x01, epochs=10, lr=0.05)
    >>> logits = dbn(lamina.tensor(x01))
    """

    def __init__(self, sizes, n_classes: int, seed=None):
        super().__init__()
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise LaminaValueError(f"DBN: sizes must be a list of at least two layer sizes, got "
                                   f"{sizes!r}")
        self.sizes = [check_int("DBN", f"sizes[{i}]", s) for i, s in enumerate(sizes)]
        self.n_classes = check_int("DBN", "n_classes", n_classes)
        rng = make_rng("DBN", seed)
        self.rbms = nn.ModuleList([RBM(a, b, seed=rng) for a, b in
                                   zip(self.sizes[:-1], self.sizes[1:])])
        layers: list[nn.Module] = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            layers += [nn.Linear(a, b), nn.Sigmoid()]
        layers.append(nn.Linear(self.sizes[-1], self.n_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, input: Tensor) -> Tensor:
        return self.classifier(input)

    def pretrain(self, x, epochs: int = 10, lr: float = 0.05, batch_size: int = 10,
                 method: str = "pcd", k: int = 1, seed=None) -> list[list[float]]:
        """Greedy layer-wise RBM training on ``x`` (N, sizes[0]) in [0, 1], then copy the
        weights into ``classifier``. The other arguments go to every ``RBM.fit``.

        Returns:
            each RBM's reconstruction error per epoch.
        """
        data = as_unit("DBN.pretrain", "x", x, self.sizes[0])
        rng = make_rng("DBN.pretrain", seed)
        history = []
        for rbm in self.rbms:
            history.append(rbm.fit(data, epochs=epochs, lr=lr, batch_size=batch_size,
                                   method=method, k=k, seed=rng))
            data = rbm.hidden_probs(data)
        self.copy_rbm_weights()
        return history

    def copy_rbm_weights(self) -> None:
        """Set each hidden ``Linear`` of ``classifier`` to its RBM's ``weight``/``h_bias``."""
        with no_grad():
            for i, rbm in enumerate(self.rbms):
                lin = self.classifier[2 * i]
                lin.weight._data[...] = rbm.weight._data.astype(lin.weight.dtype)
                lin.bias._data[...] = rbm.h_bias._data.astype(lin.bias.dtype)

    def transform(self, x) -> np.ndarray:
        """The top RBM's hidden probabilities (the upward pass), (N, sizes[-1])."""
        data = as_unit("DBN.transform", "x", x, self.sizes[0])
        for rbm in self.rbms:
            data = rbm.hidden_probs(data)
        return data

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, n_classes={self.n_classes}"
