"""``lamina tune``: hyperparameter search with Optuna over ``lamina train`` configurations.

The search space sits in the same TOML file as a ``lamina train`` config, in a ``[tune]``
table: scalar keys are the search's settings, inline tables are the parameters::

    [train]
    epochs = 20

    [tune]
    n_trials = 30
    metric = "val_accuracy"       # any per-epoch value of fit: val_loss, val_accuracy, ...
    direction = "maximize"        # default: from the metric (loss: minimize)
    pruner = "median"             # median | successive_halving | none
    lr = {low = 1e-4, high = 1e-1, log = true}       # train.lr, a float
    hidden = {choices = ["32", "64,32"]}              # model.hidden, one of these
    "train.batch_size" = {low = 16, high = 64, step = 16}   # an int (both bounds ints)

A bare key names the config key of that name in whichever section has it (``lr`` is
``train.lr``); ``"section.key"`` names it exactly. Every choice and sampled value goes
through the same checks as a ``lamina train`` flag (``"64,32"`` becomes ``[64, 32]``).

Each trial trains with ``lamina.train.fit`` and reports the metric after every epoch
(``trial.report``); the pruner stops a trial whose curve falls behind the others
(``trial.should_prune``). The objective is the trial's best epoch. When the config file
sets every searched key to a value inside the space, those values are trial 0 of a new
study, so the search starts from the config and reports how far it got from there.

The study lives in an Optuna storage (default ``sqlite:///OUT/study.db``), loaded if it
exists: a search that was interrupted continues where it stopped (a trial killed while
running stays ``running`` in the table and does not count), and several processes given the
same storage and study name share the work (Optuna gives each trial a distinct number).
``n_trials`` is the study's total of finished (complete or pruned) trials: each process
stops once the study has that many.

Written to ``OUT`` (default ``runs/tune/STUDY``): ``results.csv`` (one row per trial),
``best_config.toml`` (the best trial's configuration, runnable with ``lamina train
--config``), ``optimization_history.png`` and ``param_importances.png`` (Optuna's own
matplotlib plots).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from lamina import config as C
from lamina.train import Callback

__all__ = ["SearchSpace", "load_search", "run_search"]

PRUNERS = ("median", "successive_halving", "none")
DIRECTIONS = ("minimize", "maximize")
_SETTINGS = {"n_trials", "metric", "direction", "pruner", "seed", "timeout",
             "warmup_epochs", "startup_trials"}
_HIGHER_IS_BETTER = re.compile(r".*(accuracy|acc|r2|f1|precision|recall|auc)$")


def _require_optuna():
    try:
        import optuna
    except ImportError:
        raise C.ConfigError("lamina tune needs Optuna: pip install 'lamina[tune]'") from None
    return optuna


class SearchSpace:
    """The ``[tune]`` table, checked: the settings and the parameters to sample."""

    def __init__(self, table: dict, source: str = "config"):
        if not isinstance(table, dict) or not table:
            raise C.ConfigError(f"{source}: no [tune] table: add one with the parameters to "
                                f"search, e.g. lr = {{low = 1e-4, high = 1e-1, log = true}}")
        self.source = source
        settings = {k: v for k, v in table.items() if not isinstance(v, dict)}
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise C.ConfigError(f"{source}: unknown [tune] setting(s) {', '.join(sorted(unknown))}"
                                f"; settings are {', '.join(sorted(_SETTINGS))}, and each "
                                f"parameter is an inline table ({{low, high}} or {{choices}})")
        self.n_trials = self._int(settings.get("n_trials", 20), "n_trials", 1)
        self.metric = str(settings.get("metric", "val_loss"))
        direction = settings.get("direction", "auto")
        if direction == "auto":
            direction = "maximize" if _HIGHER_IS_BETTER.match(self.metric) else "minimize"
        if direction not in DIRECTIONS:
            raise C.ConfigError(f"{source}: tune.direction must be one of "
                                f"{', '.join(DIRECTIONS)}, got {direction!r}")
        self.direction = direction
        self.pruner = settings.get("pruner", "median")
        if self.pruner not in PRUNERS:
            raise C.ConfigError(f"{source}: tune.pruner must be one of {', '.join(PRUNERS)}, "
                                f"got {self.pruner!r}")
        seed = settings.get("seed")
        self.seed = None if seed is None else self._int(seed, "seed", 0)
        timeout = settings.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or
                                    not isinstance(timeout, (int, float)) or timeout <= 0):
            raise C.ConfigError(f"{source}: tune.timeout must be a positive number of "
                                f"seconds, got {timeout!r}")
        self.timeout = timeout
        self.warmup_epochs = self._int(settings.get("warmup_epochs", 1), "warmup_epochs", 0)
        self.startup_trials = self._int(settings.get("startup_trials", 3), "startup_trials", 0)
        self.params = {self._dotted(k): self._spec(k, v)
                       for k, v in table.items() if isinstance(v, dict)}
        if not self.params:
            raise C.ConfigError(f"{source}: [tune] has no parameters to search (inline tables "
                                f"such as lr = {{low = 1e-4, high = 1e-1, log = true}})")

    def _int(self, v, name, low):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise C.ConfigError(f"{self.source}: tune.{name} must be an int >= {low}, got {v!r}")
        return v

    def _dotted(self, key: str) -> str:
        if "." in key:
            section, _, name = key.rpartition(".")
            if section not in C.SCHEMA or name not in C.SCHEMA[section]:
                raise C.ConfigError(f"{self.source}: tune parameter {key!r} is not a config "
                                    f"key")
            return key
        owners = [s for s, fields in C.SCHEMA.items() if s and key in fields]
        if not owners:
            raise C.ConfigError(f"{self.source}: tune parameter {key!r} is not a config key "
                                f"(e.g. lr, hidden, dropout, batch_size, or 'train.lr')")
        if len(owners) > 1:
            raise C.ConfigError(f"{self.source}: tune parameter {key!r} is ambiguous; write "
                                f"one of {', '.join(repr(f'{s}.{key}') for s in owners)}")
        return f"{owners[0]}.{key}"

    def _spec(self, key: str, spec: dict) -> dict:
        where = f"{self.source}: tune parameter {key!r}"
        dotted = self._dotted(key)
        section, _, name = dotted.rpartition(".")
        if "choices" in spec:
            extra = set(spec) - {"choices"}
            choices = spec["choices"]
            if extra or not isinstance(choices, list) or not choices:
                raise C.ConfigError(f"{where}: {{choices = [...]}} takes a non-empty list and "
                                    f"nothing else, got {spec!r}")
            for c in choices:
                if not isinstance(c, (str, int, float, bool)):
                    raise C.ConfigError(f"{where}: a choice must be a string, number or "
                                        f"boolean, got {c!r}")
                self._check(section, name, c, where)
            return {"choices": choices}
        extra = set(spec) - {"low", "high", "log", "step"}
        if extra or "low" not in spec or "high" not in spec:
            raise C.ConfigError(f"{where}: expected {{low, high}} (with log = true or a step) "
                                f"or {{choices = [...]}}, got {spec!r}")
        low, high = spec["low"], spec["high"]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (low, high)) \
                or not low < high:
            raise C.ConfigError(f"{where}: low and high must be numbers with low < high, got "
                                f"{low!r} and {high!r}")
        log = spec.get("log", False)
        if not isinstance(log, bool) or (log and low <= 0):
            raise C.ConfigError(f"{where}: log must be true or false, and a log scale needs "
                                f"low > 0")
        step = spec.get("step")
        if step is not None and (log or isinstance(step, bool) or
                                 not isinstance(step, (int, float)) or step <= 0):
            raise C.ConfigError(f"{where}: step must be a positive number (and not with "
                                f"log = true), got {step!r}")
        is_int = all(isinstance(v, int) for v in (low, high)) and \
            (step is None or isinstance(step, int))
        for v in (low, high):
            self._check(section, name, v, where)
        return {"low": low, "high": high, "log": log, "step": step, "int": is_int}

    @staticmethod
    def _check(section, name, value, where):
        try:
            C.coerce(section, name, value)
        except C.ConfigError as e:
            raise C.ConfigError(f"{where}: {e}") from None

    def suggest(self, trial) -> dict:
        """The parameters of one trial, sampled: ``{"train.lr": 0.01, ...}``."""
        out = {}
        for key, s in self.params.items():
            if "choices" in s:
                out[key] = trial.suggest_categorical(key, s["choices"])
            elif s["int"]:
                out[key] = trial.suggest_int(key, s["low"], s["high"], step=s["step"] or 1,
                                             log=s["log"])
            else:
                out[key] = trial.suggest_float(key, float(s["low"]), float(s["high"]),
                                               step=s["step"], log=s["log"])
        return out


def load_search(path) -> tuple[dict, SearchSpace]:
    """Read a tune config: the ``lamina train`` part (checked as ``load_toml`` does) and its
    ``[tune]`` table."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise C.ConfigError(f"config file not found: {path}")
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise C.ConfigError(f"cannot read config file {path}: {e}") from None
    raw = C.parse_toml(text, path)
    table = raw.pop("tune", None)
    return C.validate(raw, path), SearchSpace(table, path)


def _config_for(base: dict, params: dict) -> dict:
    cfg = C.merge(C.defaults(), base)
    for dotted, value in params.items():
        C.set_value(cfg, dotted, value)
    return C.resolve(cfg)


class _Data:
    """The data set, loaded once per data configuration for all trials of a process."""

    def __init__(self):
        self._cache: dict = {}

    def get(self, cfg: dict):
        from lamina import cli
        dcfg = cfg["data"]
        key = repr(sorted((k, repr(v)) for k, v in dcfg.items())) + repr(cfg["seed"])
        if key not in self._cache:
            cli._check_dataset_name(dcfg["dataset"])
            dcfg = dict(dcfg, dataset=cli._canonical_dataset(dcfg["dataset"]))
            x, y, info = cli._load_raw(dcfg)
            tr, va, _ = cli._split(y, info["task"], dcfg, cfg["seed"])
            if not len(va):
                raise C.ConfigError("lamina tune scores trials on the validation split: set "
                                    "data.val_split > 0")
            self._cache[key] = (x, y, info, tr, va)
        return self._cache[key]


class _Reporter(Callback):
    """fit callback: reports the metric after every epoch and stops a pruned trial."""

    def __init__(self, trial, metric: str, maximize: bool):
        self.trial, self.metric, self.maximize = trial, metric, maximize
        self.best = None
        self.pruned_at = None
        self.epochs = 0

    def on_epoch_end(self, trainer, epoch, logs):
        if self.metric not in logs:
            names = ", ".join(k for k in logs if k not in ("epoch", "time", "lr"))
            raise C.ConfigError(f"tune.metric {self.metric!r} is not one of fit's per-epoch "
                                f"values: {names}")
        value = float(logs[self.metric])
        self.epochs = epoch
        if math.isfinite(value) and (self.best is None or
                                     (value > self.best if self.maximize else value < self.best)):
            self.best = value
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.stop_training = True


def _train_trial(cfg: dict, data: _Data, trial, space: SearchSpace) -> float:
    """Train one configuration; returns its best epoch's metric (raises TrialPruned)."""
    import optuna

    import lamina
    from lamina import cli
    from lamina.data import DataLoader, TensorDataset
    from lamina.tensor import Tensor
    from lamina.train import TrainingDivergedError, fit

    x, y, info, tr, va = data.get(cfg)
    tcfg, seed = cfg["train"], cfg["seed"]
    cli._check_model_name(cfg["model"]["name"])
    pre = cli.Preprocessor.fit(x[tr], info, cfg)
    loss_name, loss_fn = cli._loss(tcfg["loss"], pre.classification,
                                   cli.single_output(cfg["model"]["name"]))
    lamina.manual_seed(seed)
    model = cli.build_model(cfg["model"], pre.state["input_shape"],
                            cli._out_features(pre, loss_name))
    optimizer = cli._optimizer(tcfg, model.parameters())

    def loader(idx, shuffle):
        return DataLoader(TensorDataset(Tensor(pre.transform(x[idx])),
                                        Tensor(cli._targets_for(loss_name, y[idx]))),
                          batch_size=tcfg["batch_size"], shuffle=shuffle,
                          seed=seed if shuffle else None)

    reporter = _Reporter(trial, space.metric, space.direction == "maximize")
    metrics = ["accuracy"] if pre.classification else ["mae", "r2"]
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            fit(model, loss_fn, optimizer, loader(tr, True), tcfg["epochs"], loader(va, False),
                metrics=metrics, callbacks=[reporter], scheduler=cli._scheduler(tcfg, optimizer),
                regularization=cli._regularization(tcfg), progress=False, verbose=0)
    except TrainingDivergedError:
        trial.set_user_attr("diverged", True)
    trial.set_user_attr("epochs", reporter.epochs)
    if reporter.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
    if reporter.best is None:
        return float("nan")             # diverged from the start: a failed trial
    return reporter.best


def _starting_point(base: dict, space: SearchSpace) -> dict:
    """The config file's values of the searched keys, when every one is in the space."""
    cfg = C.merge(C.defaults(), base)
    start = {}
    for dotted, s in space.params.items():
        section, _, name = dotted.rpartition(".")
        values = cfg if not section else cfg.get(section, {})
        if name not in (base if not section else base.get(section, {})):
            return {}                       # not set in the file: nothing to start from
        v = values[name]
        if "choices" in s:
            match = [c for c in s["choices"] if C.coerce(section, name, c) == v]
            if not match:
                return {}
            start[dotted] = match[0]
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and \
                s["low"] <= v <= s["high"]:
            start[dotted] = v
        else:
            return {}
    return start


def _storage(url: str):
    optuna = _require_optuna()
    if not re.match(r"^[a-z][a-z0-9+]*://", url):
        raise C.ConfigError(f"--storage must be a database URL such as sqlite:///study.db, "
                            f"got {url!r}")
    kwargs = {}
    if url.startswith("sqlite"):
        folder = Path(url.split(":///", 1)[-1]).parent
        if url.count("///") and str(folder) and not folder.exists():
            raise C.ConfigError(f"--storage {url}: the folder {folder} does not exist")
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}   # processes take turns
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as e:               # a bad URL or an unreachable database
            # processes that start on one new database race to create its tables: the
            # loser sees "table already exists" (or a lock) and finds them on a retry
            if attempt < 5 and ("already exists" in str(e) or "locked" in str(e)):
                time.sleep(0.2 + 0.3 * attempt)
                continue
            raise C.ConfigError(f"--storage {url}: {type(e).__name__}: {e}") from None


def _pruner(space: SearchSpace):
    import optuna
    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials,
                                           n_warmup_steps=space.warmup_epochs)
    if space.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, space.warmup_epochs))
    return optuna.pruners.NopPruner()


def _finished(study) -> int:
    import optuna
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


def results_table(study, space: SearchSpace) -> tuple[list[str], list[list]]:
    """One row per trial: number, state, value, the parameters, epochs run, seconds."""
    keys = list(space.params)
    headers = ["trial", "state", space.metric] + keys + ["epochs", "seconds"]
    rows = []
    for t in study.get_trials(deepcopy=False):
        secs = t.duration.total_seconds() if t.duration is not None else ""
        rows.append([t.number, t.state.name.lower(),
                     t.value if t.value is not None else ""]
                    + [_fmt(t.params[k]) if k in t.params else "" for k in keys]
                    + [t.user_attrs.get("epochs", ""), round(secs, 2) if secs != "" else ""])
    return headers, rows


def _plots(study, out: Path, say) -> list[str]:
    from lamina import cli
    plt = cli._pyplot()
    if plt is None:
        say("matplotlib is not installed: skipped the plots (pip install 'lamina[plot]')")
        return []
    import optuna
    vis = optuna.visualization.matplotlib
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # ExperimentalWarning of the matplotlib backend
        for name, fn in (("optimization_history.png", vis.plot_optimization_history),
                         ("param_importances.png", vis.plot_param_importances)):
            try:
                ax = fn(study)
            except (ValueError, RuntimeError, ImportError) as e:
                say(f"skipped {name}: {e}")
                continue
            fig = (ax[0] if isinstance(ax, np.ndarray) else ax).figure
            fig.tight_layout()
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
            written.append(name)
    return written


def run_search(config_path, n_trials: int | None = None, storage: str | None = None,
               study_name: str | None = None, out: str | None = None,
               timeout: float | None = None, say=print) -> dict:
    """Run (or continue) a search; returns a summary (study name, best value and params,
    paths written). Raises ``lamina.config.ConfigError`` for bad input."""
    optuna = _require_optuna()
    base, space = load_search(config_path)
    if n_trials is not None:
        if n_trials < 1:
            raise C.ConfigError(f"--n-trials must be >= 1, got {n_trials}")
        space.n_trials = n_trials
    if study_name is None:
        study_name = Path(config_path).stem
    if not re.fullmatch(r"[A-Za-z0-9._-]+", study_name):
        raise C.ConfigError(f"--study-name may hold letters, digits, '.', '_' and '-', got "
                            f"{study_name!r}")
    out_dir = Path(out) if out else Path(base.get("out", "runs")) / "tune" / study_name
    out_dir.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{out_dir / 'study.db'}"
    # the base config must resolve on its own, before any training
    _config_for(base, {})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=space.seed, n_startup_trials=min(10, max(
        2, space.n_trials // 3)))
    try:
        study = optuna.create_study(storage=_storage(url), study_name=study_name,
                                    direction=space.direction, sampler=sampler,
                                    pruner=_pruner(space), load_if_exists=True)
    except ValueError as e:                  # e.g. an existing study of the other direction
        raise C.ConfigError(f"study {study_name!r} in {url}: {e}") from None
    if study.direction.name.lower() != space.direction:
        raise C.ConfigError(f"study {study_name!r} in {url} was created to "
                            f"{study.direction.name.lower()}, the config asks to "
                            f"{space.direction}: give another --study-name")
    if not study.get_trials(deepcopy=False):
        start = _starting_point(base, space)
        if start:      # the config's own values are trial 0: the search can only improve
            study.enqueue_trial(start, skip_if_exists=True)
    done = _finished(study)
    say(f"study {study_name!r} in {url}: {done} of {space.n_trials} trials finished; "
        f"{space.direction} {space.metric}, pruner {space.pruner}")
    data = _Data()

    def objective(trial):
        params = space.suggest(trial)
        cfg = _config_for(base, params)
        trial.set_user_attr("pid", os.getpid())
        return _train_trial(cfg, data, trial, space)

    def progress(study, trial):
        shown = ", ".join(f"{k.rpartition('.')[2]}={_fmt(v)}" for k, v in trial.params.items())
        if trial.state == optuna.trial.TrialState.PRUNED:
            result = f"pruned after epoch {trial.user_attrs.get('epochs', '?')}"
        elif trial.value is None:
            result = trial.state.name.lower()
        else:
            result = f"{space.metric} {trial.value:.4f}"
        say(f"trial {trial.number}: {result}  ({shown})")

    t0 = time.perf_counter()
    remaining = space.n_trials - done
    if remaining > 0:
        stop = optuna.study.MaxTrialsCallback(
            space.n_trials, states=(optuna.trial.TrialState.COMPLETE,
                                    optuna.trial.TrialState.PRUNED))
        study.optimize(objective, n_trials=remaining, timeout=timeout or space.timeout,
                       callbacks=[stop, progress], catch=(FloatingPointError,),
                       gc_after_trial=False)
    headers, rows = results_table(study, space)
    from lamina import cli
    say(cli._table(headers, rows))
    cli._write_csv(out_dir / "results.csv", headers, rows)
    summary = {"study": study_name, "storage": url, "out": str(out_dir),
               "trials": len(rows), "seconds": time.perf_counter() - t0}
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is None:
        say("no trial completed: no best configuration")
        return summary
    cfg = _config_for(base, best.params)
    best_path = out_dir / "best_config.toml"
    header = (f"the best trial ({best.number}) of study {study_name!r}: {space.metric} = "
              f"{best.value:.6g}\nrun it with: lamina train --config {best_path}")
    best_path.write_text(C.dump_toml(cfg, header), encoding="utf-8")
    plots = _plots(study, out_dir, say)
    say(f"best trial {best.number}: {space.metric} {best.value:.4f} with "
        + ", ".join(f"{k} = {_fmt(v)}" for k, v in best.params.items()))
    say(f"wrote {out_dir / 'results.csv'}, {best_path}"
        + "".join(f", {out_dir / p}" for p in plots))
    summary.update(best_value=best.value, best_params=dict(best.params),
                   best_config=str(best_path), plots=plots)
    return summary


def cmd_tune(args) -> int:
    """The ``lamina tune`` subcommand (see ``lamina tune --help``)."""
    run_search(args.config, n_trials=args.n_trials, storage=args.storage,
               study_name=args.study_name, out=args.out, timeout=args.timeout,
               say=lambda *a: print(*a, flush=True))
    return 0


def add_parser(sub) -> None:
    """Register ``lamina tune`` on the CLI's subparsers."""
    import argparse
    t = sub.add_parser("tune", help="hyperparameter search (Optuna) over a train config",
                       description="Search hyperparameters with Optuna: the [tune] table of "
                       "a lamina train config names the settings and the search space; "
                       "trials are pruned on their per-epoch validation metric; the study "
                       "is stored (SQLite by default) so it resumes and can be shared.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--config", required=True, metavar="FILE.toml",
                   help="a lamina train config with a [tune] table")
    t.add_argument("--n-trials", type=int, metavar="N", help="the study's total of finished "
                   "trials (default: tune.n_trials)")
    t.add_argument("--storage", metavar="URL", help="Optuna storage (default "
                   "sqlite:///OUT/study.db)")
    t.add_argument("--study-name", metavar="NAME", help="study name (default: the config "
                   "file's name); an existing study is continued")
    t.add_argument("--out", metavar="DIR", help="where results.csv, best_config.toml and the "
                   "plots go (default runs/tune/STUDY)")
    t.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop starting trials after this long")
    t.set_defaults(func=cmd_tune)


_EPILOG = """example config (examples/configs/iris_tune.toml):
  [tune]
  n_trials = 20
  metric = "val_accuracy"
  pruner = "median"
  lr = {low = 1e-4, high = 1e-1, log = true}
  hidden = {choices = ["32", "64,32"]}

  lamina tune --config examples/configs/iris_tune.toml
  lamina tune --config iris_tune.toml --storage sqlite:///study.db --study-name iris
  lamina train --config runs/tune/iris_tune/best_config.toml
"""

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: lamina tune --config FILE.toml")
