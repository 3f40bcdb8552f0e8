"""The NumPy grid world: Gymnasium's reset/step contract, dynamics, and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.rl import GridWorld


def test_reset_and_step_follow_gymnasiums_interface():
    env = GridWorld(3, 4)
    obs, info = env.reset(seed=0)
    assert obs.shape == (12,) and obs.dtype == np.float32 and obs[0] == 1 and info == {}
    assert env.observation_space.shape == (12,) and env.action_space.n == 4
    obs, reward, terminated, truncated, info = env.step(1)          # right
    assert obs.argmax() == 1 and reward == pytest.approx(-0.01)
    assert terminated is False and truncated is False


def test_walls_borders_goal_and_truncation():
    env = GridWorld(2, 2, walls=[(0, 1)], max_steps=3)
    env.reset()
    assert env.step(0)[0].argmax() == 0          # up: the border, stays
    assert env.step(1)[0].argmax() == 0          # right: the wall, stays
    obs, r, term, trunc, _ = env.step(2)          # down
    assert obs.argmax() == 2 and not term and trunc   # the third step hits max_steps
    env.reset()
    env.step(2)
    obs, r, term, trunc, _ = env.step(1)
    assert obs.argmax() == 3 and r == 1.0 and term and not trunc
    assert GridWorld(4, 4).shortest_path() == 6
    assert GridWorld(3, 3, walls=[(1, 0), (1, 1)]).shortest_path() == 4


def test_slip_is_seeded():
    def run(seed):
        env = GridWorld(5, 5, slip=0.5)
        env.reset(seed=seed)
        return [env.step(1)[0].argmax() for _ in range(20)]

    assert run(3) == run(3)


@pytest.mark.parametrize("make,match", [
    (lambda: GridWorld(0, 3), "GridWorld: rows must be a positive int, got 0"),
    (lambda: GridWorld(1, 1), "GridWorld: the grid needs at least 2 cells"),
    (lambda: GridWorld(3, 3, slip=2.0), "GridWorld: slip must be a probability"),
    (lambda: GridWorld(3, 3, walls=[(2, 2)]), r"GridWorld: wall \(2, 2\) must be inside"),
])
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_step_checks_action_and_reset():
    env = GridWorld()
    with pytest.raises(RuntimeError, match="GridWorld.step: call reset"):
        env.step(0)
    env.reset()
    with pytest.raises(ValueError, match=r"GridWorld.step: action must be an int in \[0, 4\), "
                                         "got 4"):
        env.step(4)
