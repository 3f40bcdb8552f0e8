"""lamina's benchmark suite: lamina and PyTorch timed side by side (``python -m bench``)."""
