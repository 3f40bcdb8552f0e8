"""Functional forms of the layers and losses (``import lamina.nn.functional as F``).

The ops live in ``lamina.ops`` (``nn.py``, ``loss.py`` and others); this module gathers them
under PyTorch's ``torch.nn.functional`` names. A new op file adds one import line at the end.
"""
# isort: skip_file
# ruff: noqa: F401, F403

from lamina.ops.nn import linear
