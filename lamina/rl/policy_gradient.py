"""Policy-gradient agents with a ``Categorical`` policy: REINFORCE with a learned baseline,
and an n-step advantage actor-critic (A2C, one environment).

Both follow the score-function gradient
``grad J = E[sum_t grad log pi(a_t | s_t) (R_t - V(s_t))]`` with a learned state value
``V`` as the baseline, plus an entropy bonus that keeps the policy from collapsing early.
REINFORCE uses the Monte Carlo return of the whole episode; A2C the n-step return
``R_t = r_t + ... + gamma^(n-1) r_{t+n-1} + gamma^n V(s_{t+n})``, bootstrapped from the critic
(and not past a terminal state).
"""

from __future__ import annotations

import numpy as np

import lamina
from lamina import nn, optim
from lamina.distributions import Categorical
from lamina.rl.agent import (
    Agent,
    _check_float,
    _check_int,
    _space_sizes,
    discounted_returns,
    mlp,
)

__all__ = ["REINFORCE", "A2C"]


class _ActorCriticBase(Agent):
    def __init__(self, env, hidden, lr, value_lr, gamma, entropy_coef, seed, who):
        super().__init__(seed)
        self.obs_dim, self.n_actions = _space_sizes(env, who)
        if isinstance(hidden, int):
            hidden = (hidden,)
        hidden = tuple(_check_int(h, "hidden", who) for h in hidden)
        self.gamma = _check_float(gamma, "gamma", who, 0.0, 1.0)
        self.entropy_coef = _check_float(entropy_coef, "entropy_coef", who)
        lr = _check_float(lr, "lr", who, lo_open=True)
        value_lr = lr if value_lr is None else _check_float(value_lr, "value_lr", who,
                                                              lo_open=True)
        with lamina.fork_rng(seed):               # the same seed, the same initial networks
            self.policy = mlp([self.obs_dim, *hidden, self.n_actions])
            self.value = mlp([self.obs_dim, *hidden, 1])
        self.policy_optimizer = optim.Adam(self.policy.parameters(), lr=lr)
        self.value_optimizer = optim.Adam(self.value.parameters(), lr=value_lr)
        self._buf = ([], [], [])                  # observations, actions, rewards

    def distribution(self, obs) -> Categorical:
        """The policy ``pi(. | obs)`` for a batch of observations (a tensor (N, obs_dim))."""
        return Categorical(logits=self.policy(obs), validate_args=False)

    def act(self, obs, greedy: bool = False) -> int:
        with lamina.no_grad():
            dist = self.distribution(self._obs_tensor(obs))
            a = dist.mode if greedy else dist.sample(generator=self.generator)
        return int(a.item())

    def _update(self, obs, actions, targets) -> dict:
        """One step on the policy loss ``-mean(log pi(a|s) A) - c H`` and the value loss
        ``mean((V(s) - target)^2)``, with advantages ``A = target - V(s)``."""
        x = lamina.tensor(np.asarray(obs, dtype=np.float32))
        a = lamina.tensor(np.asarray(actions, dtype=np.int64))
        g = lamina.tensor(np.asarray(targets, dtype=np.float32))
        v = self.value(x).squeeze(-1)
        adv = (g - v).detach()
        if self.normalize_advantages and adv.shape[0] > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        dist = self.distribution(x)
        entropy = dist.entropy().mean()
        policy_loss = -(dist.log_prob(a) * adv).mean() - self.entropy_coef * entropy
        value_loss = (v - g).square().mean()
        self.policy_optimizer.zero_grad()
        self.value_optimizer.zero_grad()
        (policy_loss + value_loss).backward()     # the two networks share no parameters
        if self.max_grad_norm:
            nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            nn.utils.clip_grad_norm_(self.value.parameters(), self.max_grad_norm)
        self.policy_optimizer.step()
        self.value_optimizer.step()
        return {"policy_loss": float(policy_loss.item()), "value_loss": float(value_loss.item()),
                "entropy": float(entropy.item())}


class REINFORCE(_ActorCriticBase):
    """REINFORCE (Williams, 1992) with a learned state-value baseline.

    After each episode: ``G_t`` (discounted Monte Carlo returns), advantages
    ``G_t - V(s_t)`` (optionally standardized), one Adam step on the policy and one on
    ``V`` (mean squared error to ``G_t``).

    Args:
        env: the environment (for its observation and action sizes).
        hidden: the hidden layer sizes of the policy and value MLPs (tanh).
        lr: the policy's Adam learning rate; ``value_lr`` the baseline's (default ``lr``).
        gamma: the discount factor.
        entropy_coef: weight of the entropy bonus.
        normalize_advantages: standardize each episode's advantages.
        max_grad_norm: clip each network's gradient norm (0: no clipping).
        seed: seeds the networks' initialization and the action sampling.

    >>> agent = REINFORCE(GridWorld(4, 4), seed=0)
    >>> history = agent.fit(GridWorld(4, 4), episodes=300, seed=0)
    """

    def __init__(self, env, hidden=(64,), lr: float = 1e-2, value_lr: float | None = None,
                 gamma: float = 0.99, entropy_coef: float = 0.0,
                 normalize_advantages: bool = True, max_grad_norm: float = 0.0,
                 seed: int | None = None):
        super().__init__(env, hidden, lr, value_lr, gamma, entropy_coef, seed, "REINFORCE")
        self.normalize_advantages = bool(normalize_advantages)
        self.max_grad_norm = _check_float(max_grad_norm, "max_grad_norm", "REINFORCE")

    def _observe(self, obs, action, reward, next_obs, terminated, truncated):
        self._buf[0].append(np.asarray(obs, dtype=np.float32))
        self._buf[1].append(action)
        self._buf[2].append(reward)

    def _end_episode(self):
        obs, actions, rewards = self._buf
        if obs:
            self._update(obs, actions, discounted_returns(rewards, self.gamma))
        self._buf = ([], [], [])


class A2C(_ActorCriticBase):
    """Advantage actor-critic, n-step, on one environment (Mnih et al., 2016, synchronous).

    Every ``n_steps`` steps (and at the end of an episode) the agent updates on the rollout
    with targets ``R_t = r_t + gamma R_{t+1}``, started from ``V(s_last)`` (0 after a terminal
    state; the critic's value after a truncation or mid-episode). ``n_steps=1`` is the
    one-step actor-critic.

    Args: as ``REINFORCE``, plus ``n_steps``.

    >>> agent = A2C(GridWorld(4, 4), n_steps=8, seed=0)
    """

    def __init__(self, env, hidden=(64,), lr: float = 1e-3, value_lr: float | None = None,
                 gamma: float = 0.99, n_steps: int = 16, entropy_coef: float = 0.01,
                 normalize_advantages: bool = False, max_grad_norm: float = 0.5,
                 seed: int | None = None):
        super().__init__(env, hidden, lr, value_lr, gamma, entropy_coef, seed, "A2C")
        self.n_steps = _check_int(n_steps, "n_steps", "A2C")
        self.normalize_advantages = bool(normalize_advantages)
        self.max_grad_norm = _check_float(max_grad_norm, "max_grad_norm", "A2C")

    def _observe(self, obs, action, reward, next_obs, terminated, truncated):
        self._buf[0].append(np.asarray(obs, dtype=np.float32))
        self._buf[1].append(action)
        self._buf[2].append(reward)
        if terminated or truncated or len(self._buf[0]) >= self.n_steps:
            bootstrap = 0.0
            if not terminated:
                with lamina.no_grad():
                    bootstrap = float(self.value(self._obs_tensor(next_obs)).item())
            obs_, actions, rewards = self._buf
            self._update(obs_, actions, discounted_returns(rewards, self.gamma, bootstrap))
            self._buf = ([], [], [])
