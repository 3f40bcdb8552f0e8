"""Reinforcement learning on Gymnasium's interface: a NumPy grid world, REINFORCE with a
learned baseline, an n-step advantage actor-critic (A2C) and DQN.

Environments follow Gymnasium: ``reset(seed=None) -> (obs, info)`` and
``step(action) -> (obs, reward, terminated, truncated, info)``. Gymnasium itself is optional
(``pip install lamina[rl]``) and only needed for its environments such as CartPole.

>>> from lamina.rl import GridWorld, REINFORCE, evaluate
>>> env = GridWorld(4, 4)
>>> agent = REINFORCE(env, seed=0)
>>> history = agent.fit(env, episodes=300, seed=0)
>>> evaluate(agent, env)                  # 1 - 0.01 * 5 = 0.95 on the shortest path
"""

from lamina.rl.agent import Agent, History, discounted_returns, evaluate, mlp
from lamina.rl.dqn import DQN, LinearSchedule, ReplayBuffer
from lamina.rl.gridworld import GridWorld
from lamina.rl.policy_gradient import A2C, REINFORCE
from lamina.rl.spaces import Box, Discrete

__all__ = ["Agent", "History", "GridWorld", "REINFORCE", "A2C", "DQN", "ReplayBuffer",
           "LinearSchedule", "evaluate", "discounted_returns", "mlp", "Discrete", "Box"]
