"""Export lamina models to ONNX: ``lamina.onnx.export(model, args, f)``, in the shape of
``torch.onnx.export``. Needs the ``onnx`` package (``pip install 'lamina[onnx]'``; add
``onnxruntime`` to run the exported file), and back: ``lamina.onnx.import_model(f)`` for a
graph that is a chain of layers."""

from lamina.onnx.exporter import UnsupportedModuleError, export, supported_modules
from lamina.onnx.importer import import_model

__all__ = ["export", "import_model", "supported_modules", "UnsupportedModuleError"]
