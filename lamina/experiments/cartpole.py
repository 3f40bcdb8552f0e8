"""CartPole-v1 (Gymnasium): episodes until the mean return of the last 100 episodes reaches 195,
for REINFORCE with a learned baseline, an n-step advantage actor-critic (A2C) and DQN
(lecture: reinforcement learning, policy gradients and Q-learning; Williams 1992, Mnih et al.
2015 and 2016).

195 over 100 consecutive episodes is the classic "solved" threshold of CartPole (v0's; v1
allows up to 500 per episode). Each agent trains on its own seeded environment until it
reaches the threshold or its episode cap, which keeps the full run within a few minutes on two
cores; an agent that does not reach it is reported as such, with its best 100-episode mean.
After training, each greedy policy plays a few more episodes (evaluation). ``quick=True``
caps every agent at a handful of episodes (with a window of 10) for tests: it checks the
plumbing, not the learning. Needs Gymnasium (``pip install lamina[rl]``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lamina.experiments._common import ExperimentResult, fmt, markdown_table, save_plot, seed_all

TARGET = 195.0

# name -> (constructor keyword arguments, episode cap of the full run)
AGENTS = {
    "REINFORCE + baseline": (dict(hidden=(64,), lr=1e-2, value_lr=1e-2), 1000),
    "A2C (n = 32)": (dict(hidden=(64,), n_steps=32, lr=1e-3, value_lr=3e-3, entropy_coef=0.0,
                          normalize_advantages=True), 1000),
    "DQN": (dict(hidden=(64, 64), lr=1e-3, learning_starts=500, epsilon_steps=5000,
                 target_update=200, double=True), 500),
}


def _make_env():
    try:
        import gymnasium as gym
    except ImportError:
        raise ImportError("experiment 'cartpole' needs Gymnasium: pip install gymnasium "
                          "(or lamina[rl])") from None
    return gym.make("CartPole-v1")


def run(seed: int = 0, out_dir: Path = Path("."), quick: bool = False) -> ExperimentResult:
    from lamina import rl

    seed_all(seed)
    window = 10 if quick else 100
    rows, data, notes = [], {"target": TARGET, "window": window, "agents": {}}, []
    for i, (name, (kwargs, cap)) in enumerate(AGENTS.items()):
        env = _make_env()
        cls = {"REINFORCE": rl.REINFORCE, "A2C": rl.A2C, "DQN": rl.DQN}[name.split()[0]]
        if quick:
            cap = 8
            kwargs = dict(kwargs, **({"learning_starts": 50} if cls is rl.DQN else {}))
        agent = cls(env, seed=seed + i, **kwargs)
        t0 = time.perf_counter()
        hist = agent.fit(env, episodes=cap, seed=seed + 100 + i, target_return=TARGET,
                         window=window)
        seconds = time.perf_counter() - t0
        eval_env = _make_env()
        eval_return = rl.evaluate(agent, eval_env, episodes=2 if quick else 10,
                                  seed=seed + 1000 + i)
        env.close()
        eval_env.close()
        ma = hist.moving_average()
        best = float(ma[window - 1:].max()) if len(ma) >= window else float("nan")
        solved = hist.solved_at
        rows.append([name, solved if solved is not None else f"not within {cap}",
                     int(sum(hist.lengths)), best, eval_return, round(seconds)])
        data["agents"][name] = {"solved_at": solved, "episodes": len(hist.returns),
                                "cap": cap, "steps": int(sum(hist.lengths)),
                                "returns": [float(r) for r in hist.returns],
                                "best_moving_average": best, "greedy_return": eval_return,
                                "seconds": seconds}
    table = markdown_table(["agent", f"episodes to mean {fmt(TARGET)} over {window}",
                            "environment steps", f"best {window}-episode mean",
                            "greedy return (10 episodes)" if not quick else
                            "greedy return (2 episodes)", "seconds"], rows)
    caption = ("### CartPole-v1: REINFORCE, A2C and DQN\n\n"
               f"CartPole-v1, seed {seed}: episodes until the mean return of the last {window} "
               f"episodes first reaches {fmt(TARGET)} (training stops there or at the cap); "
               "seconds are wall-clock on this machine.")

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        for name, d in data["agents"].items():
            r = np.asarray(d["returns"])
            c = np.concatenate([[0.0], np.cumsum(r)])
            idx = np.arange(1, len(r) + 1)
            lo = np.maximum(idx - window, 0)
            line, = ax.plot(idx, (c[idx] - c[lo]) / (idx - lo), label=f"{name} ({window}-ep mean)")
            ax.plot(idx, r, alpha=0.2, color=line.get_color())
        ax.axhline(TARGET, color="k", ls="--", lw=0.8, label=f"{fmt(TARGET)}")
        ax.set_xlabel("episode")
        ax.set_ylabel("return")
        ax.set_title("CartPole-v1 learning curves")
        ax.legend(fontsize=8)

    plot = save_plot(draw, out_dir, "cartpole.png", notes)
    return ExperimentResult(name="cartpole", title="CartPole-v1: REINFORCE, A2C and DQN",
                            markdown=caption + "\n\n" + table, data=data, plot=plot,
                            notes=notes)
