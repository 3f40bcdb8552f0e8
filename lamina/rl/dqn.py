"""Deep Q-learning (Mnih et al., 2015): a replay buffer, a target network, an epsilon-greedy
schedule and the Huber loss on the temporal-difference error.

The Q-network is trained on minibatches drawn uniformly from past transitions toward
``y = r + gamma (1 - terminated) max_a' Q_target(s', a')``; the target network is a copy of
the Q-network refreshed every ``target_update`` steps. ``double=True`` picks ``a'`` with the
online network and evaluates it with the target one (van Hasselt et al., 2016).
"""

from __future__ import annotations

import numpy as np

import lamina
from lamina import nn, optim
from lamina.errors import LaminaValueError
from lamina.rl.agent import Agent, _check_float, _check_int, _space_sizes, mlp

__all__ = ["DQN", "ReplayBuffer", "LinearSchedule"]


class ReplayBuffer:
    """A fixed-size ring of transitions ``(obs, action, reward, next_obs, terminated)``.

    >>> buf = ReplayBuffer(1000, obs_dim=4)
    >>> buf.add(np.zeros(4), 1, 1.0, np.ones(4), False)
    >>> len(buf)
    1
    """

    def __init__(self, capacity: int, obs_dim: int):
        self.capacity = _check_int(capacity, "capacity", "ReplayBuffer")
        obs_dim = _check_int(obs_dim, "obs_dim", "ReplayBuffer")
        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self._i = 0
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self._i
        self.obs[i], self.next_obs[i] = obs, next_obs
        self.actions[i], self.rewards[i], self.terminated[i] = action, reward, terminated
        self._i = (i + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self._n == 0:
            raise LaminaValueError("ReplayBuffer.sample: the buffer is empty")
        idx = rng.integers(0, self._n, size=_check_int(batch_size, "batch_size",
                                                       "ReplayBuffer.sample"))
        return (self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                self.terminated[idx])


class LinearSchedule:
    """``start`` decaying linearly to ``end`` over ``steps`` steps, then constant."""

    def __init__(self, start: float, end: float, steps: int):
        self.start = _check_float(start, "start", "LinearSchedule", 0.0, 1.0)
        self.end = _check_float(end, "end", "LinearSchedule", 0.0, 1.0)
        self.steps = _check_int(steps, "steps", "LinearSchedule")

    def __call__(self, t: int) -> float:
        frac = min(max(t, 0) / self.steps, 1.0)
        return self.start + frac * (self.end - self.start)


class DQN(Agent):
    """Deep Q-network agent for discrete actions.

    Args:
        env: the environment (for its observation and action sizes).
        hidden: the Q-network's hidden layer sizes (ReLU).
        lr: Adam's learning rate.
        gamma: the discount factor.
        buffer_size: the replay buffer's capacity.
        batch_size: transitions per update.
        learning_starts: steps of experience collected before the first update.
        train_freq: steps between updates.
        target_update: steps between copies of the Q-network into the target network.
        epsilon_start, epsilon_end, epsilon_steps: the linear exploration schedule.
        huber_delta: the Huber loss's threshold between quadratic and linear.
        max_grad_norm: clip the gradient norm (0: no clipping).
        double: double DQN's target.
        seed: seeds the networks, exploration and replay sampling.

    >>> agent = DQN(GridWorld(4, 4), seed=0)
    """

    def __init__(self, env, hidden=(64, 64), lr: float = 1e-3, gamma: float = 0.99,
                 buffer_size: int = 50_000, batch_size: int = 64, learning_starts: int = 1000,
                 train_freq: int = 1, target_update: int = 500, epsilon_start: float = 1.0,
                 epsilon_end: float = 0.05, epsilon_steps: int = 10_000,
                 huber_delta: float = 1.0, max_grad_norm: float = 10.0, double: bool = False,
                 seed: int | None = None):
        super().__init__(seed)
        who = "DQN"
        self.obs_dim, self.n_actions = _space_sizes(env, who)
        if isinstance(hidden, int):
            hidden = (hidden,)
        hidden = tuple(_check_int(h, "hidden", who) for h in hidden)
        self.gamma = _check_float(gamma, "gamma", who, 0.0, 1.0)
        self.batch_size = _check_int(batch_size, "batch_size", who)
        self.learning_starts = _check_int(learning_starts, "learning_starts", who, 0)
        self.train_freq = _check_int(train_freq, "train_freq", who)
        self.target_update = _check_int(target_update, "target_update", who)
        self.huber_delta = _check_float(huber_delta, "huber_delta", who, lo_open=True)
        self.max_grad_norm = _check_float(max_grad_norm, "max_grad_norm", who)
        self.double = bool(double)
        self.epsilon = LinearSchedule(epsilon_start, epsilon_end, epsilon_steps)
        with lamina.fork_rng(seed):
            self.q = mlp([self.obs_dim, *hidden, self.n_actions], activation=nn.ReLU)
            self.q_target = mlp([self.obs_dim, *hidden, self.n_actions], activation=nn.ReLU)
        self.q_target.load_state_dict(self.q.state_dict())
        self.optimizer = optim.Adam(self.q.parameters(), lr=_check_float(lr, "lr", who,
                                                                          lo_open=True))
        self.buffer = ReplayBuffer(buffer_size, self.obs_dim)
        self.updates = 0

    def act(self, obs, greedy: bool = False) -> int:
        rng = self.generator.np
        if not greedy and rng.random() < self.epsilon(self.steps):
            return int(rng.integers(self.n_actions))
        with lamina.no_grad():
            return int(self.q(self._obs_tensor(obs)).argmax(-1).item())

    def _observe(self, obs, action, reward, next_obs, terminated, truncated):
        # a truncated transition is stored as non-terminal: its target bootstraps
        self.buffer.add(obs, action, reward, next_obs, terminated)
        if self.steps >= self.learning_starts and self.steps % self.train_freq == 0:
            self.update()
        if self.steps % self.target_update == 0:
            self.q_target.load_state_dict(self.q.state_dict())

    def update(self) -> float:
        """One gradient step on a replayed minibatch; returns the Huber loss."""
        obs, actions, rewards, next_obs, term = self.buffer.sample(self.batch_size,
                                                                   self.generator.np)
        nx = lamina.tensor(next_obs)
        with lamina.no_grad():
            q_next = self.q_target(nx)
            if self.double:
                best = self.q(nx).argmax(-1, keepdim=True)
                v_next = q_next.gather(-1, best).squeeze(-1)
            else:
                v_next = q_next.amax(-1)
            y = lamina.tensor(rewards) + self.gamma * lamina.tensor(1.0 - term) * v_next
        q = self.q(lamina.tensor(obs)).gather(-1, lamina.tensor(actions).unsqueeze(-1))
        loss = nn.functional.huber_loss(q.squeeze(-1), y, delta=self.huber_delta)
        self.optimizer.zero_grad()
        loss.backward()
        if self.max_grad_norm:
            nn.utils.clip_grad_norm_(self.q.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        return float(loss.item())
