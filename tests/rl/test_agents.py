"""The agents learn the grid world (seeded, a few seconds each), reproducibly; their pieces
(returns, replay buffer, schedule) and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.rl import (
    A2C,
    DQN,
    REINFORCE,
    GridWorld,
    History,
    LinearSchedule,
    ReplayBuffer,
    discounted_returns,
    evaluate,
)

OPTIMAL = 1.0 - 0.01 * 5          # 4x4: six steps, the last one reaches the goal

AGENTS = {
    "reinforce": lambda env: REINFORCE(env, seed=0),
    "a2c": lambda env: A2C(env, n_steps=8, lr=3e-3, seed=0),
    "dqn": lambda env: DQN(env, learning_starts=200, epsilon_steps=1500, target_update=100,
                           seed=0),
}


@pytest.mark.parametrize("name", list(AGENTS))
def test_agent_learns_the_grid_world(name):
    env = GridWorld(4, 4)
    agent = AGENTS[name](env)
    hist = agent.fit(env, episodes=300, seed=0, target_return=0.94, window=20)
    assert hist.solved_at is not None, f"{name}: never averaged 0.94 over 20 episodes"
    assert evaluate(agent, env, episodes=3, seed=1) == pytest.approx(OPTIMAL)


def test_training_is_reproducible():
    def run():
        env = GridWorld(4, 4)
        return A2C(env, n_steps=4, seed=3).fit(env, episodes=15, seed=3).returns

    assert run() == run()


def test_history_moving_average():
    h = History(returns=[1.0, 2.0, 3.0, 4.0], window=2)
    np.testing.assert_allclose(h.moving_average(), [1.0, 1.5, 2.5, 3.5])


def test_discounted_returns():
    np.testing.assert_allclose(discounted_returns([1.0, 0.0, 2.0], 0.5, bootstrap=4.0),
                               [1 + 0.25 * 2 + 0.125 * 4, 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4])


def test_replay_buffer_wraps_and_samples():
    buf = ReplayBuffer(3, obs_dim=2)
    for i in range(5):
        buf.add(np.full(2, i), i % 2, float(i), np.full(2, i + 1), i == 4)
    assert len(buf) == 3
    obs, a, r, nxt, term = buf.sample(50, np.random.default_rng(0))
    assert set(r.tolist()) == {2.0, 3.0, 4.0}
    np.testing.assert_array_equal(nxt[:, 0], obs[:, 0] + 1)
    np.testing.assert_array_equal(term, (r == 4.0).astype(np.float32))
    with pytest.raises(ValueError, match="ReplayBuffer.sample: the buffer is empty"):
        ReplayBuffer(2, 1).sample(1, np.random.default_rng(0))


def test_linear_schedule():
    s = LinearSchedule(1.0, 0.1, 10)
    assert s(0) == 1.0 and s(5) == pytest.approx(0.55) and s(10) == s(100) == pytest.approx(0.1)


def test_dqn_epsilon_is_followed():
    env = GridWorld(4, 4)
    agent = DQN(env, epsilon_start=1.0, epsilon_end=1.0, seed=0)
    obs, _ = env.reset(seed=0)
    acts = [agent.act(obs) for _ in range(400)]
    assert set(acts) == {0, 1, 2, 3}
    assert agent.act(obs, greedy=True) == agent.act(obs, greedy=True)


@pytest.mark.parametrize("make,match", [
    (lambda env: REINFORCE(env, gamma=1.5), r"REINFORCE: gamma must be a number in \[0.0, 1.0"),
    (lambda env: REINFORCE(env, lr=0.0), "REINFORCE: lr must be a number in"),
    (lambda env: A2C(env, n_steps=0), "A2C: n_steps must be an int >= 1, got 0"),
    (lambda env: DQN(env, batch_size=-1), "DQN: batch_size must be an int >= 1, got -1"),
    (lambda env: DQN(env, hidden=(0,)), "DQN: hidden must be an int >= 1"),
    (lambda env: LinearSchedule(2.0, 0.0, 5), "LinearSchedule: start must be"),
    (lambda env: ReplayBuffer(0, 3), "ReplayBuffer: capacity must be an int >= 1"),
    (lambda env: A2C(env).fit(env, episodes=0), "A2C.fit: episodes must be an int >= 1"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make(GridWorld())


def test_env_without_spaces_is_rejected():
    with pytest.raises(TypeError, match="DQN: env must have observation_space"):
        DQN(object())
    with pytest.raises(TypeError, match="evaluate: agent must be"):
        evaluate(object(), GridWorld())
