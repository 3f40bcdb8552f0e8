"""What every agent shares: a small MLP builder, the episode loop (``Agent.fit``), the
training record (``History``) and greedy evaluation.

An agent acts with ``act(obs, greedy=False)`` and learns from transitions through three hooks
the loop calls: ``_observe(obs, action, reward, next_obs, terminated, truncated)`` after every
step and ``_end_episode()`` after every episode. ``terminated`` (a terminal state: no future
reward) and ``truncated`` (cut off by a time limit: the future still has value) are kept apart,
as Gymnasium does, so agents that bootstrap do so after a truncation but not after a
termination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import lamina
from lamina import nn
from lamina.backend import Generator
from lamina.errors import LaminaTypeError, LaminaValueError

__all__ = ["Agent", "History", "mlp", "evaluate", "discounted_returns"]


def mlp(sizes: list[int], activation=nn.Tanh) -> nn.Sequential:
    """``Linear -> activation -> ... -> Linear`` through ``sizes`` (no final activation)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def discounted_returns(rewards, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
    """``G_t = r_t + gamma r_{t+1} + ... + gamma^(T-t) bootstrap``, for every t."""
    out = np.empty(len(rewards), dtype=np.float64)
    g = float(bootstrap)
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


@dataclass
class History:
    """The record of ``Agent.fit``: one entry per episode.

    Attributes:
        returns: each episode's undiscounted return.
        lengths: each episode's number of steps.
        solved_at: the episode count at which the mean return of the last ``window``
            episodes first reached ``target_return`` (``None`` if it never did).
        window, target_return: the criterion used.
    """

    returns: list = field(default_factory=list)
    lengths: list = field(default_factory=list)
    solved_at: int | None = None
    window: int = 100
    target_return: float | None = None

    def moving_average(self) -> np.ndarray:
        """The mean return of the last ``window`` episodes (fewer at the start)."""
        r = np.asarray(self.returns, dtype=np.float64)
        c = np.concatenate([[0.0], np.cumsum(r)])
        idx = np.arange(1, len(r) + 1)
        lo = np.maximum(idx - self.window, 0)
        return (c[idx] - c[lo]) / (idx - lo)


def _check_int(value, name: str, who: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LaminaValueError(f"{who}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_float(value, name: str, who: str, lo: float = 0.0, hi: float = float("inf"),
                 lo_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        raise LaminaValueError(f"{who}: {name} must be a number in {'(' if lo_open else '['}{lo}, "
                               f"{hi}], got {value!r}")
    return value


def _space_sizes(env, who: str) -> tuple[int, int]:
    obs_space, act_space = getattr(env, "observation_space", None), getattr(env, "action_space",
                                                                            None)
    if obs_space is None or act_space is None:
        raise LaminaTypeError(f"{who}: env must have observation_space and action_space "
                              f"(Gymnasium's "
                              f"interface), got {type(env).__name__}")
    if not hasattr(act_space, "n"):
        raise LaminaValueError(f"{who}: expected a discrete action space (with .n), got "
                               f"{act_space}")
    shape = tuple(obs_space.shape or ())
    if len(shape) != 1:
        raise LaminaValueError(f"{who}: expected flat (1-D) observations, got shape {shape}")
    return int(shape[0]), int(act_space.n)


class Agent:
    """Base class: the episode loop; subclasses implement ``act``, ``_observe`` and
    ``_end_episode``."""

    def __init__(self, seed: int | None):
        self.generator = Generator(seed)
        self.steps = 0

    def act(self, obs, greedy: bool = False) -> int:
        raise NotImplementedError

    def _observe(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        pass

    def _end_episode(self) -> None:
        pass

    def _obs_tensor(self, obs) -> lamina.Tensor:
        return lamina.tensor(np.asarray(obs, dtype=np.float32)[None])

    def fit(self, env, episodes: int, seed: int | None = None,
            target_return: float | None = None, window: int = 100, stop: bool = True,
            callback: Callable[[int, float], None] | None = None) -> History:
        """Train for up to ``episodes`` episodes on ``env`` (Gymnasium's interface).

        Args:
            env: an environment with ``reset(seed=)`` and ``step(a)``.
            episodes: the most episodes to run.
            seed: passed to the first ``env.reset`` (the rest continue its stream).
            target_return: with ``stop``, training ends once the mean return of the last
                ``window`` episodes reaches it; ``History.solved_at`` records when.
            window: the averaging window of that criterion.
            callback: called as ``callback(episode, episode_return)`` after each episode.

        Returns:
            a ``History``.
        """
        who = f"{type(self).__name__}.fit"
        episodes = _check_int(episodes, "episodes", who)
        window = _check_int(window, "window", who)
        hist = History(window=window, target_return=target_return)
        obs, _ = env.reset(seed=seed)
        for ep in range(episodes):
            if ep:
                obs, _ = env.reset()
            total, length, done = 0.0, 0, False
            while not done:
                action = self.act(obs)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                self.steps += 1
                self._observe(obs, action, float(reward), next_obs, bool(terminated),
                              bool(truncated))
                obs, total, length = next_obs, total + float(reward), length + 1
                done = terminated or truncated
            self._end_episode()
            hist.returns.append(total)
            hist.lengths.append(length)
            if callback is not None:
                callback(ep, total)
            if (target_return is not None and hist.solved_at is None and len(hist.returns)
                    >= window and np.mean(hist.returns[-window:]) >= target_return):
                hist.solved_at = ep + 1
                if stop:
                    break
        return hist


def evaluate(agent: Agent, env, episodes: int = 10, seed: int | None = None) -> float:
    """The mean undiscounted return of ``agent``'s greedy policy over ``episodes`` episodes."""
    if not isinstance(agent, Agent):
        raise LaminaTypeError(f"evaluate: agent must be a lamina.rl Agent, got "
                              f"{type(agent).__name__}")
    episodes = _check_int(episodes, "episodes", "evaluate")
    totals = []
    obs, _ = env.reset(seed=seed)
    for ep in range(episodes):
        if ep:
            obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, greedy=True))
            total += float(reward)
            done = terminated or truncated
        totals.append(total)
    return float(np.mean(totals))
