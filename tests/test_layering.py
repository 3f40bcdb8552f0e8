"""lamina's layers import only downwards (docs/architecture.md).

Every module's imports are read with ``ast``, function-local ones included (a lazy import is
still a dependency), and each ``lamina`` import is checked against the layer table below: a
module may import its own layer and the layers under it, never one above.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "lamina"

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS = [
    ("foundation", ["lamina.errors", "lamina.dispatch", "lamina.device"]),
    ("tensor", ["lamina.dtypes", "lamina.backend", "lamina.tensor", "lamina.creation",
                "lamina.cuda", "lamina.backends", "lamina.accelerator", "lamina.runtime"]),
    ("autograd", ["lamina.autograd"]),
    ("ops", ["lamina.ops", "lamina.linalg"]),   # lamina.linalg re-exports lamina.ops only
    ("kernels", ["lamina.kernels"]),
    ("library", ["lamina.nn", "lamina.optim", "lamina.data", "lamina.serialization",
                 "lamina.utils", "lamina.distributions", "lamina.quantization",
                 "lamina.vision", "lamina.compiler", "lamina.distributed"]),
    ("models", ["lamina.models"]),
    ("train", ["lamina.train", "lamina.sklearn", "lamina.attacks", "lamina.interpret",
               "lamina.rl", "lamina.onnx"]),
    ("application", ["lamina.cli", "lamina.cli_generative", "lamina.cli_distributed",
                     "lamina.config",
                     "lamina.experiments", "lamina.tune", "lamina.__main__", "lamina"]),
]

# The one designed cycle at the bottom: Tensor's methods are the ops (attached when
# tensor.py is imported), and Tensor.backward runs the engine. Not a violation.
DESIGNED = {
    ("lamina.tensor", "lamina.ops"),
    ("lamina.tensor", "lamina.autograd.engine"),
    ("lamina.tensor", "lamina.autograd.function"),
}

# Known violations being removed (none left: the fast paths moved from lamina/ops to
# lamina/kernels behind lamina.dispatch). A fixed one left here fails
# ``test_known_violations_are_still_there``.
KNOWN_VIOLATIONS: set = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(name: str) -> bool:
    p = ROOT.parent.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _imports(path: Path) -> set:
    """Every ``lamina`` module ``path`` imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:       # ``from lamina import nn`` imports the module lamina.nn
                sub = f"{base}.{a.name}"
                found.add(sub if _exists(sub) else base)
    found = {m for m in found if m == "lamina" or m.startswith("lamina.")}
    if "lamina" in found and name.count(".") >= 1:
        # ``import lamina`` then ``lamina.randn(...)``, as ``import torch`` inside torch.nn:
        # each ``lamina.X`` the code uses is what it depends on: a subpackage, or else a name
        # of the tensor namespace (creation functions and ops)
        found.discard("lamina")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "lamina"):
                sub = f"lamina.{node.attr}"
                found.add(sub if _exists(sub) else "lamina.ops")
    return found


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    if rank is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return rank


def _top(module: str) -> str:
    """The name a violation is listed under: the imported package's first two parts."""
    return ".".join(module.split(".")[:2])


def _upward_imports():
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module_name(path)
        if mod == "lamina":
            continue            # the package's __init__ re-exports every layer
        for imp in _imports(path):
            if (mod, imp) in DESIGNED or _layer(imp) <= _layer(mod):
                continue
            out.setdefault((mod, _top(imp)), []).append(imp)
    return out


def test_no_module_imports_a_higher_layer():
    found = _upward_imports()
    new = {k: v for k, v in found.items() if k not in KNOWN_VIOLATIONS}
    lines = [f"{mod} ({LAYERS[_layer(mod)][0]}) imports {', '.join(sorted(set(imps)))} "
             f"({LAYERS[_layer(imps[0])][0]})" for (mod, _), imps in sorted(new.items())]
    assert not lines, "imports from a higher layer:\n" + "\n".join(lines)


def test_known_violations_are_still_there():
    """Keeps KNOWN_VIOLATIONS honest: an entry that no longer happens must be removed."""
    gone = KNOWN_VIOLATIONS - set(_upward_imports())
    assert not gone, f"fixed, remove from KNOWN_VIOLATIONS: {sorted(gone)}"


@pytest.mark.parametrize("lower,higher", [
    ("lamina/ops", "lamina.kernels"),
    ("lamina/autograd", "lamina.ops"),
    ("lamina/autograd", "lamina.nn"),
    ("lamina/tensor.py", "lamina.nn"),
    ("lamina/tensor.py", "lamina.optim"),
    ("lamina/tensor.py", "lamina.train"),
    ("lamina/backend.py", "lamina.nn"),
    ("lamina/backend.py", "lamina.optim"),
    ("lamina/backend.py", "lamina.train"),
])
def test_the_rules_named_in_the_architecture(lower, higher):
    """The same rules spelled out, so that a change to LAYERS cannot quietly allow them."""
    p = ROOT.parent / lower
    paths = sorted(p.rglob("*.py")) if p.is_dir() else [p]
    bad = []
    for path in paths:
        mod = _module_name(path)
        for imp in _imports(path):
            if (imp == higher or imp.startswith(higher + ".")) and \
                    (mod, _top(imp)) not in KNOWN_VIOLATIONS:
                bad.append(f"{mod} imports {imp}")
    assert not bad, "\n".join(bad)


def test_the_import_reader_sees_function_local_and_relative_imports(tmp_path, monkeypatch):
    """The checker itself: a lazy import inside a function is found, as is a relative one."""
    fake = tmp_path / "lamina"
    (fake / "ops").mkdir(parents=True)
    (fake / "kernels").mkdir()
    for f in ("__init__.py", "ops/__init__.py", "kernels/__init__.py", "kernels/conv.py"):
        (fake / f).write_text("")
    (fake / "ops" / "conv.py").write_text(
        "def f():\n    from lamina.kernels import conv\n    from ..kernels import conv as c\n")
    monkeypatch.setattr("tests.test_layering.ROOT", fake)
    assert _imports(fake / "ops" / "conv.py") == {"lamina.kernels.conv"}
    assert _layer("lamina.kernels.conv") > _layer("lamina.ops.conv")
