"""Export lamina models to ONNX: ``lamina.onnx.export(model, args, f)``, in the shape of
``torch.onnx.export``. Needs the ``onnx`` package (``pip install 'lamina[onnx]'``; add
``onnxruntime`` to run the exported file)."""

from lamina.onnx.exporter import UnsupportedModuleError, export, supported_modules

__all__ = ["export", "supported_modules", "UnsupportedModuleError"]
