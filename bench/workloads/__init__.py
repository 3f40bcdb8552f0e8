"""Benchmark workloads: name -> module in this package.

A workload module defines ``NAME``, ``DESCRIPTION``, ``TARGET`` (the ratio we aim for) and two
functions, ``lamina_step()`` and ``torch_step()``, that build the model, data and optimizer
once and return a zero-argument callable running ONE training step.
"""

WORKLOADS = {
    "tiny-ops": "tiny_ops",
    "mlp-ops": "mlp_ops",
    "tiny": "tiny",
    "mlp": "mlp",
    "lenet": "lenet",
    "lstm": "lstm",
    "conv-wide": "conv_wide",
}
