"""Every ``lamina.nn`` class lives where PyTorch keeps its counterpart (issue #15).

A saved whole model names its classes by import path, and PyTorch programs name classes by
path too (``torch.serialization.safe_globals``, ``isinstance`` checks through
``torch.nn.modules.conv``): a program ports by changing ``torch`` to ``lamina`` only when
``lamina.nn.X.__module__`` is ``torch.nn.X.__module__`` with that one word changed. Old
lamina paths stay importable (re-exports), so older code and saved files keep working.
"""

import importlib
import inspect

import pytest

import lamina
import lamina.nn as nn

# lamina classes with no class of that name in torch.nn, and why they exist.
LAMINA_ONLY = {
    "BatchNormReLU1d": "fused BatchNorm + ReLU layer (lamina.nn.modules.fused)",
    "BatchNormReLU2d": "fused BatchNorm + ReLU layer (lamina.nn.modules.fused)",
    "BatchNormReLU3d": "fused BatchNorm + ReLU layer (lamina.nn.modules.fused)",
    "ReLUMaxPool1d": "fused ReLU + MaxPool layer (lamina.nn.modules.fused)",
    "ReLUMaxPool2d": "fused ReLU + MaxPool layer (lamina.nn.modules.fused)",
    "Step": "the perceptron's step activation (teaching layer)",
    "Heaviside": "alias of Step under torch.heaviside's name",
    "Highway": "highway layer (Srivastava et al.), a teaching layer",
    "ResidualBlock": "residual block, a teaching layer",
    "ResidualMLPBlock": "residual MLP block, a teaching layer",
    "RBF": "radial-basis-function layer, a teaching layer",
}


def _nn_classes():
    return sorted(name for name, obj in vars(nn).items()
                  if inspect.isclass(obj) and not name.startswith("_"))


def test_every_lamina_nn_class_has_pytorchs_module_path():
    tnn = pytest.importorskip("torch.nn", reason="PyTorch is the reference for the paths")
    wrong, unknown = [], []
    for name in _nn_classes():
        if name in LAMINA_ONLY:
            continue
        ref = getattr(tnn, name, None)
        if ref is None:
            unknown.append(name)
            continue
        ours = getattr(nn, name).__module__.replace("lamina", "torch", 1)
        if ours != ref.__module__:
            wrong.append(f"{name}: lamina {getattr(nn, name).__module__}, torch {ref.__module__}")
    assert not wrong, "classes not at PyTorch's path:\n" + "\n".join(wrong)
    assert not unknown, (f"classes missing from torch.nn: add them to LAMINA_ONLY with a "
                         f"reason: {unknown}")


def test_lamina_only_list_is_exact():
    """Each excepted name is a lamina.nn class and really absent from torch.nn (the list
    cannot hide a class that should follow PyTorch's path)."""
    tnn = pytest.importorskip("torch.nn", reason="PyTorch is the reference for the paths")
    classes = set(_nn_classes())
    for name in LAMINA_ONLY:
        assert name in classes, f"{name} is no longer a lamina.nn class"
        assert not hasattr(tnn, name), f"torch.nn has {name}: drop it from LAMINA_ONLY"


@pytest.mark.parametrize("path, name, home", [
    ("lamina.nn.modules.activation", "MultiheadAttention", "lamina.nn.modules.activation"),
    ("lamina.nn.modules.normalization", "RMSNorm", "lamina.nn.modules.normalization"),
    ("lamina.nn.modules.upsampling", "Upsample", "lamina.nn.modules.upsampling"),
    ("lamina.nn.modules.module", "Module", "lamina.nn.modules.module"),
    ("lamina.nn.modules.transformer", "TransformerEncoderLayer", "lamina.nn.modules.transformer"),
    ("lamina.nn.modules.flatten", "Unflatten", "lamina.nn.modules.flatten"),
    ("lamina.nn.modules.linear", "Identity", "lamina.nn.modules.linear"),
    # old lamina paths, still importable for older code and saved files
    ("lamina.nn.module", "Module", "lamina.nn.modules.module"),
    ("lamina.nn.modules.attention", "MultiheadAttention", "lamina.nn.modules.activation"),
    ("lamina.nn.modules.rms_norm", "RMSNorm", "lamina.nn.modules.normalization"),
    ("lamina.nn.modules.misc", "Upsample", "lamina.nn.modules.upsampling"),
    ("lamina.nn.modules.misc", "UpsamplingNearest2d", "lamina.nn.modules.upsampling"),
    ("lamina.nn.modules.misc", "UpsamplingBilinear2d", "lamina.nn.modules.upsampling"),
])
def test_paths_import_the_one_class(path, name, home):
    cls = getattr(importlib.import_module(path), name)
    assert cls is getattr(nn, name)
    assert cls.__module__ == home


def test_saved_model_names_pytorch_paths_and_old_paths_still_load(tmp_path):
    """A whole-model save names the classes by PyTorch's paths; a file written before the
    move (naming the old lamina paths) still loads, to the same classes and outputs."""
    model = nn.Sequential(nn.RMSNorm(4), nn.MultiheadAttention(4, 2, batch_first=True),
                          nn.Upsample(scale_factor=2))
    f = tmp_path / "m.safetensors"
    lamina.save(model, f)
    raw = f.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = raw[8:8 + n].decode("utf-8")
    moves = {"lamina.nn.modules.normalization.RMSNorm": "lamina.nn.modules.rms_norm.RMSNorm",
             "lamina.nn.modules.activation.MultiheadAttention":
                 "lamina.nn.modules.attention.MultiheadAttention",
             "lamina.nn.modules.upsampling.Upsample": "lamina.nn.modules.misc.Upsample"}
    for new, old in moves.items():
        assert new in header
        header = header.replace(new, old)
    # the old names are shorter: pad with spaces (safetensors' header padding) so the
    # tensor bytes stay where they were
    old_bytes = header.encode("utf-8").ljust(n)
    assert len(old_bytes) == n
    f.write_bytes(raw[:8] + old_bytes + raw[8 + n:])

    loaded = lamina.load(f)
    assert [type(m) for m in loaded] == [nn.RMSNorm, nn.MultiheadAttention, nn.Upsample]
    x = lamina.randn(1, 3, 4)
    norm = loaded[0](x)
    assert (norm.detach().numpy() == model[0](x).detach().numpy()).all()
    out, _ = loaded[1](x, x, x)
    ref, _ = model[1](x, x, x)
    assert (out.detach().numpy() == ref.detach().numpy()).all()
