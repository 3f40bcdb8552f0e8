"""Run configuration for the ``lamina`` command line: the schema, TOML reading and writing,
and validation with errors that name the key and the allowed values.

A configuration is a dict of sections (``data``, ``model``, ``train``) plus top-level keys
(``seed``, ``out``); every key has a default, so an empty file is the default run (LeNet-5
on scikit-learn's digits). A file only lists what it changes::

    seed = 1

    [data]
    dataset = "iris"

    [model]
    name = "mlp"
    hidden = [32, 16]

    [train]
    optimizer = "sgd"
    lr = 0.05
    epochs = 50

``resolve`` fills in the defaults and the ``"auto"`` values that depend on each other (the
learning rate of the chosen optimizer, for example); the run directory's ``config.toml`` is
the resolved configuration, so ``lamina train --config runs/<run>/config.toml`` repeats a run.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field

from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = ["ConfigError", "SCHEMA", "defaults", "load_toml", "parse_toml", "dump_toml",
           "merge", "validate", "resolve", "coerce", "set_value", "OPTIMIZERS", "SCHEDULES",
           "LOSSES"]


class ConfigError(LaminaValueError):
    """A bad configuration key or value (the message names the key and what is allowed)."""


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau", "time-decay")
LOSSES = ("auto", "cross_entropy", "bce", "mse", "l1", "huber", "smooth_l1")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "silu")

# the optimizer's usual learning rate, used when ``train.lr`` is "auto"
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adadelta": 1.0, "adam": 0.001, "adamw": 0.001}


@dataclass(frozen=True)
class Field:
    """One configuration key: its kind, default, allowed values and help text."""

    kind: str                 # str, int, float, bool, tristate, ints, floats2, strs, table
    default: object
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    auto: bool = False        # "auto" is allowed besides values of ``kind``
    extra: dict = field(default_factory=dict)


SCHEMA: dict[str, dict[str, Field]] = {
    "": {
        "seed": Field("int", 0, "random seed (weights, data split, shuffling)", minimum=0),
        "out": Field("str", "runs", "parent folder of the run directory"),
        "name": Field("str", "", "run directory name (default: a timestamp and the model)"),
    },
    "data": {
        "dataset": Field("str", "digits", "a dataset name (lamina datasets) or csv:PATH"),
        "target": Field("str", "", "target column of a CSV dataset"),
        "categorical": Field("strs", [], "CSV feature columns to one-hot encode"),
        "task": Field("str", "auto", "classification or regression (auto: from the data)",
                      choices=("auto", "classification", "regression")),
        "args": Field("table", {}, "extra keyword arguments of the dataset (e.g. root)"),
        "val_split": Field("float", 0.15, "fraction of the samples for validation",
                           minimum=0.0, maximum=0.9),
        "test_split": Field("float", 0.15, "fraction of the samples for the test set",
                            minimum=0.0, maximum=0.9),
        "standardize": Field("tristate", "auto",
                             "standardize features with the training split's mean/std "
                             "(auto: tabular data yes, images no)"),
        "image_size": Field("int", 0, "resize images to this side length (0: auto, which is "
                            "32 for lenet5, else unchanged)", minimum=0),
        "limit": Field("int", 0, "use a random subset of this many samples (0: all)", minimum=0),
    },
    "model": {
        "name": Field("str", "lenet5", "model name (see lamina.models)"),
        "hidden": Field("ints", [128, 64], "hidden layer sizes of mlp / highway-mlp"),
        "dropout": Field("float", 0.0, "dropout probability", minimum=0.0, maximum=0.99),
        "activation": Field("str", "relu", "hidden activation of mlp", choices=ACTIVATIONS),
        "args": Field("table", {}, "extra keyword arguments of the model"),
    },
    "train": {
        "epochs": Field("int", 20, "number of epochs", minimum=1),
        "batch_size": Field("int", 64, "mini-batch size", minimum=1),
        "loss": Field("str", "auto", "loss (auto: cross_entropy for classification, mse for "
                      "regression)", choices=LOSSES),
        "optimizer": Field("str", "adam", "optimizer", choices=OPTIMIZERS),
        "lr": Field("float", "auto", "learning rate (auto: the optimizer's usual one)",
                    minimum=0.0, auto=True),
        "momentum": Field("float", "auto", "momentum (auto: 0.9 for momentum/nesterov, "
                          "0 otherwise)", minimum=0.0, maximum=1.0, auto=True),
        "weight_decay": Field("float", 0.0, "weight decay of the optimizer", minimum=0.0),
        "betas": Field("floats2", [0.9, 0.999], "Adam/AdamW betas", minimum=0.0, maximum=1.0),
        "schedule": Field("str", "none", "learning-rate schedule", choices=SCHEDULES),
        "step_size": Field("int", 10, "step schedule: epochs between decays", minimum=1),
        "gamma": Field("float", "auto", "decay factor of step (0.1) / exponential (0.95)",
                       minimum=0.0, auto=True),
        "decay": Field("float", 0.1, "time-decay: lr = lr0 / (1 + decay * epoch)",
                       minimum=0.0),
        "t_max": Field("int", 0, "cosine: epochs of one half-period (0: all epochs)",
                       minimum=0),
        "plateau_patience": Field("int", 3, "plateau: epochs without improvement before "
                                  "the lr is cut", minimum=0),
        "plateau_factor": Field("float", 0.1, "plateau: factor of each cut", minimum=0.0,
                                maximum=1.0),
        "l1": Field("float", 0.0, "L1 penalty weight (all parameters)", minimum=0.0),
        "l2": Field("float", 0.0, "L2 penalty weight (all parameters)", minimum=0.0),
        "patience": Field("int", 0, "early stopping on val_loss after this many epochs "
                          "without improvement (0: off)", minimum=0),
        "stop_on_nonfinite": Field("bool", True, "stop at the first NaN/inf training loss "
                                   "(the last finite checkpoints stay; exit status 2)"),
        "compile": Field("bool", False, "run each training step through lamina.compile "
                         "(recorded once per batch shape, then replayed; same values)"),
    },
}


def _key(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def defaults() -> dict:
    """The default configuration (a fresh dict of sections)."""
    cfg: dict = {}
    for section, fields in SCHEMA.items():
        target = cfg if not section else cfg.setdefault(section, {})
        for name, f in fields.items():
            target[name] = copy.deepcopy(f.default)
    return cfg


# --- values -----------------------------------------------------------------------------

def _num(value, kind: str, key: str):
    if isinstance(value, bool):
        raise ConfigError(f"config key {key!r}: expected a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if kind == "int" else float(text)
        except ValueError:
            want = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"config key {key!r}: expected {want}, got {value!r}") from None
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ConfigError(f"config key {key!r}: expected an integer, got {value!r}")
        return value
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"config key {key!r}: expected a finite number, got {value!r}")
    return float(value)


def _bounds(value, f: Field, key: str):
    if f.minimum is not None and value < f.minimum:
        raise ConfigError(f"config key {key!r}: must be >= {f.minimum}, got {value!r}")
    if f.maximum is not None and value > f.maximum:
        raise ConfigError(f"config key {key!r}: must be <= {f.maximum}, got {value!r}")
    return value


def _list(value, key: str) -> list:
    if isinstance(value, str):
        text = value.strip().strip("[]")
        return [v.strip() for v in text.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"config key {key!r}: expected a list (or comma-separated values), "
                      f"got {value!r}")


def coerce(section: str, name: str, value):
    """``value`` (a TOML value or a command-line string) checked and converted to the kind of
    ``section.name``; raises ConfigError naming the key and what is allowed."""
    fields = SCHEMA.get(section)
    key = _key(section, name)
    if fields is None:
        raise ConfigError(f"unknown config section [{section}]; allowed sections: "
                          f"{', '.join(s for s in SCHEMA if s)}")
    if name not in fields:
        where = f"in [{section}]" if section else "at the top level"
        raise ConfigError(f"unknown config key {key!r}; allowed keys {where}: "
                          f"{', '.join(fields)}")
    f = fields[name]
    if f.auto and isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if f.kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
        value = value.strip()
        if f.choices is not None:
            norm = value.lower().replace("_", "-") if name == "schedule" else value.lower()
            if norm not in f.choices:
                raise ConfigError(f"config key {key!r}: unknown value {value!r}; allowed "
                                  f"values: {', '.join(f.choices)}")
            value = norm
        return value
    if f.kind in ("int", "float"):
        return _bounds(_num(value, f.kind, key), f, key)
    if f.kind == "bool":
        return _bool(value, key)
    if f.kind == "tristate":
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return _bool(value, key, allowed="true, false, auto")
    if f.kind == "ints":
        items = [_bounds(_num(v, "int", key), Field("int", 0, "", minimum=1), key)
                 for v in _list(value, key)]
        return items
    if f.kind == "floats2":
        items = [_bounds(_num(v, "float", key), f, key) for v in _list(value, key)]
        if len(items) != 2:
            raise ConfigError(f"config key {key!r}: expected two numbers (e.g. 0.9,0.999), "
                              f"got {value!r}")
        return items
    if f.kind == "strs":
        items = _list(value, key)
        if not all(isinstance(v, str) for v in items):
            raise ConfigError(f"config key {key!r}: expected a list of strings, got {value!r}")
        return [v.strip() for v in items]
    if f.kind == "table":
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a table of key = value pairs, "
                              f"got {value!r}")
        return dict(value)
    raise AssertionError(f.kind)


def _bool(value, key: str, allowed: str = "true, false"):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
    raise ConfigError(f"config key {key!r}: expected one of {allowed}, got {value!r}")


def set_value(cfg: dict, dotted: str, value) -> None:
    """Set ``cfg[section][name]`` from ``"section.name"`` (checked with ``coerce``)."""
    section, _, name = dotted.rpartition(".")
    target = cfg if not section else cfg.setdefault(section, {})
    target[name] = coerce(section, name, value)


def validate(raw: dict, source: str = "config") -> dict:
    """Check every key and value of ``raw`` (a parsed TOML document); returns the checked
    values (only those given). ``source`` names the file in error messages."""
    out: dict = {}
    for key, value in raw.items():
        if isinstance(value, dict) and key in SCHEMA and key:
            sec = out.setdefault(key, {})
            for name, v in value.items():
                try:
                    sec[name] = coerce(key, name, v)
                except ConfigError as e:
                    raise ConfigError(f"{source}: {e}") from None
        else:
            try:
                out[key] = coerce("", key, value)
            except ConfigError as e:
                if isinstance(value, dict):
                    raise ConfigError(f"{source}: unknown config section [{key}]; allowed "
                                      f"sections: {', '.join(s for s in SCHEMA if s)}") from None
                raise ConfigError(f"{source}: {e}") from None
    return out


def merge(base: dict, *overrides: dict) -> dict:
    """A copy of ``base`` with each override's values laid over it (section by section)."""
    cfg = copy.deepcopy(base)
    for over in overrides:
        for key, value in over.items():
            if isinstance(value, dict) and key in SCHEMA and key:
                cfg.setdefault(key, {}).update(copy.deepcopy(value))
            else:
                cfg[key] = copy.deepcopy(value)
    return cfg


def resolve(cfg: dict) -> dict:
    """Fill in the values that depend on others (``"auto"`` learning rate, momentum and
    gamma) and check combinations; the result is what the run uses and records."""
    cfg = copy.deepcopy(cfg)
    tr, data = cfg["train"], cfg["data"]
    if tr["lr"] == "auto":
        tr["lr"] = DEFAULT_LR[tr["optimizer"]]
    if tr["momentum"] == "auto":
        tr["momentum"] = 0.9 if tr["optimizer"] in ("momentum", "nesterov") else 0.0
    if tr["gamma"] == "auto":
        tr["gamma"] = 0.95 if tr["schedule"] == "exponential" else 0.1
    if tr["optimizer"] == "nesterov" and tr["momentum"] <= 0:
        raise ConfigError("config key 'train.momentum': the nesterov optimizer needs a "
                          "momentum > 0")
    if data["val_split"] + data["test_split"] >= 0.95:
        raise ConfigError(f"config keys 'data.val_split' + 'data.test_split' must leave "
                          f"training data: got {data['val_split']} + {data['test_split']}")
    if tr["patience"] and data["val_split"] == 0:
        raise ConfigError("config key 'train.patience': early stopping watches val_loss, "
                          "so it needs data.val_split > 0")
    if tr["schedule"] == "plateau" and data["val_split"] == 0:
        raise ConfigError("config key 'train.schedule': 'plateau' watches val_loss, so it "
                          "needs data.val_split > 0")
    if data["dataset"].startswith("csv:") and not data["target"]:
        raise ConfigError("config key 'data.target': a csv: dataset needs the name of its "
                          "target column (--target COLUMN)")
    return cfg


# --- TOML ---------------------------------------------------------------------------------

def parse_toml(text: str, source: str = "config") -> dict:
    """Parse TOML with ``tomllib`` (Python 3.11+), ``tomli`` when installed, else a small
    built-in reader for the subset lamina writes (tables, strings, numbers, booleans,
    arrays and inline tables of those)."""
    try:
        import tomllib as toml
    except ImportError:
        try:
            import tomli as toml
        except ImportError:
            toml = None
    if toml is not None:
        try:
            return toml.loads(text)
        except toml.TOMLDecodeError as e:
            raise ConfigError(f"{source} is not valid TOML: {e}") from None
    return _MiniToml(text, source).parse()


def load_toml(path) -> dict:
    """Read and validate a config file; a missing file raises ConfigError naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"config file not found: {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} is not a regular file; give a TOML file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} "
                          f"at offset {e.start}); give a TOML text file") from None
    if text.startswith("\ufeff"):
        text = text[1:]        # a byte-order mark some editors write
    return validate(parse_toml(text, path), path)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value)
                                                         else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_bare(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise LaminaTypeError(f"dump_toml: cannot write {type(value).__name__} values")


def _bare(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def dump_toml(cfg: dict, header: str = "") -> str:
    """The configuration as TOML text: top-level keys first, then one table per section,
    each key followed by its help as a comment."""
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    for section in SCHEMA:
        values = cfg if not section else cfg.get(section, {})
        if section:
            lines += ["", f"[{section}]"]
        for name, f in SCHEMA[section].items():
            if name in values:
                lines.append(f"{name} = {_toml_value(values[name])}  # {f.help}")
    return "\n".join(lines) + "\n"


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


class _MiniToml:
    """Just enough TOML for Python 3.10 without tomli: ``[table]`` headers, ``key = value``
    lines with strings, numbers, booleans, arrays and inline tables, and comments."""

    _token = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[\[\]{},=]|[^\s\[\]{},=#]+)')

    def __init__(self, text: str, source: str):
        self.text, self.source = text, source

    def error(self, lineno: int, what: str):
        return ConfigError(f"{self.source} is not valid TOML (line {lineno}): {what}")

    def parse(self) -> dict:
        doc: dict = {}
        table = doc
        for lineno, line in enumerate(self.text.splitlines(), 1):
            toks = self.tokens(line, lineno)
            if not toks:
                continue
            if toks[0] == "[" and toks[-1] == "]" and len(toks) == 3:
                table = doc
                for part in toks[1].split("."):     # [data.args]: a table inside [data]
                    table = table.setdefault(part.strip(), {})
                continue
            if len(toks) < 3 or toks[1] != "=":
                raise self.error(lineno, f"expected key = value, got {line.strip()!r}")
            value, rest = self.value(toks[2:], lineno)
            if rest:
                raise self.error(lineno, f"unexpected {rest[0]!r}")
            table[self.key(toks[0])] = value
        return doc

    def tokens(self, line: str, lineno: int) -> list[str]:
        toks, pos = [], 0
        while pos < len(line):
            if line[pos:].lstrip().startswith("#") or not line[pos:].strip():
                break
            m = self._token.match(line, pos)
            if m is None:
                raise self.error(lineno, f"cannot read {line[pos:].strip()!r}")
            toks.append(m.group(1))
            pos = m.end()
        return toks

    def key(self, tok: str) -> str:
        return tok[1:-1] if tok[:1] in "\"'" else tok

    def value(self, toks: list[str], lineno: int):
        tok, rest = toks[0], toks[1:]
        if tok in ("[", "{"):
            close = "]" if tok == "[" else "}"
            items: list = []
            table: dict = {}
            while rest and rest[0] != close:
                if tok == "{":
                    k = self.key(rest[0])
                    if len(rest) < 3 or rest[1] != "=":
                        raise self.error(lineno, "expected key = value in an inline table")
                    v, rest = self.value(rest[2:], lineno)
                    table[k] = v
                else:
                    v, rest = self.value(rest, lineno)
                    items.append(v)
                if rest and rest[0] == ",":
                    rest = rest[1:]
            if not rest:
                raise self.error(lineno, f"missing {close!r}")
            return (items if tok == "[" else table), rest[1:]
        if tok[:1] == '"':
            return re.sub(r'\\(["\\nt])', lambda m: _ESCAPES[m.group(1)], tok[1:-1]), rest
        if tok[:1] == "'":
            return tok[1:-1], rest
        if tok in ("true", "false"):
            return tok == "true", rest
        text = tok.replace("_", "")
        try:
            return int(text), rest
        except ValueError:
            pass
        try:
            return float(text), rest
        except ValueError:
            raise self.error(lineno, f"cannot read the value {tok!r}") from None
