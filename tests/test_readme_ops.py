"""The README's op list is current: every public op of ``lamina`` and ``lamina.nn.functional``
appears in it, and it names nothing that does not exist.

To refresh the list after adding ops: ``python -m tests.test_readme_ops`` prints the section."""

import importlib
import re
from pathlib import Path

import lamina.nn.functional as F
from tests.test_fuzz import OP_MODULES

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- ops:begin -->", "<!-- ops:end -->"
TITLES = {
    "elementwise": "element-wise", "special": "special functions", "reduce": "reductions",
    "cumulative": "cumulative", "sorting": "sorting and counting", "movement": "shapes",
    "indexing": "indexing", "linalg": "matrix products", "conv": "convolution",
    "conv3d": "3-D convolution", "pool": "pooling", "pool3d": "3-D pooling",
    "resample": "resampling", "shaping": "shapes and diagonals", "scattering": "scatter",
    "contraction": "contractions", "random": "random sampling",
}


def groups() -> dict[str, list[str]]:
    out = {}
    for m in (*OP_MODULES, "random"):
        names = importlib.import_module(f"lamina.ops.{m}").__all__
        out[TITLES.get(m, m.replace("_", " "))] = sorted(n for n in names if not n.startswith("_"))
    out["nn.functional"] = sorted(
        n for n in dir(F) if not n.startswith("_") and callable(getattr(F, n))
        and not isinstance(getattr(F, n), type)
        and getattr(getattr(F, n), "__module__", "").startswith("lamina"))
    return out


def section() -> str:
    lines = [BEGIN, "<details><summary>Every op, by family (checked by "
             "<code>tests/test_readme_ops.py</code>)</summary>", ""]
    for title, names in groups().items():
        prefix = "F." if title == "nn.functional" else ""
        lines.append(f"- **{title}**: " + ", ".join(f"`{prefix}{n}`" for n in names))
    lines += ["", "</details>", END]
    return "\n".join(lines)


def test_readme_lists_every_op():
    text = README.read_text()
    assert BEGIN in text and END in text, "README has no op list section"
    current = text[text.index(BEGIN):text.index(END) + len(END)]
    listed = set(re.findall(r"`(?:F\.)?([A-Za-z_][\w]*)`", current))
    wanted = {n for names in groups().values() for n in names}
    missing, stale = sorted(wanted - listed), sorted(listed - wanted)
    assert not missing and not stale, (
        f"README op list out of date: missing {missing}, stale {stale}; regenerate it with "
        "`python -m tests.test_readme_ops`")


if __name__ == "__main__":
    print(section())
