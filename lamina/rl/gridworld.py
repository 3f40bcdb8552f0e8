"""A small grid world on Gymnasium's interface, in NumPy (no Gymnasium needed).

The agent starts in the top-left cell and must reach the goal in the bottom-right one. Actions
0..3 move up, right, down, left; moves into the border or a wall leave it in place. Each step
costs ``step_reward`` (-0.01); reaching the goal gives +1 and ends the episode (terminated);
after ``max_steps`` steps it is cut off (truncated). With ``slip > 0`` the move is replaced by
a random one with that probability. Observations are the one-hot position (float32, size
``rows * cols``), so a linear layer can represent any value function.
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaValueError
from lamina.rl.spaces import Box, Discrete

__all__ = ["GridWorld"]

_MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])


class GridWorld:
    """``reset(seed=None) -> (obs, info)``; ``step(a) -> (obs, reward, terminated, truncated,
    info)``, as in Gymnasium.

    Args:
        rows, cols: the grid's size (at least 2 cells).
        walls: cells ``(r, c)`` that cannot be entered.
        max_steps: steps before the episode is truncated.
        step_reward: reward of every step that does not reach the goal.
        slip: probability that the action is replaced by a uniformly random one.

    >>> env = GridWorld(4, 4)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(1)
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, rows: int = 4, cols: int = 4, walls=(), max_steps: int = 50,
                 step_reward: float = -0.01, slip: float = 0.0):
        for v, n in ((rows, "rows"), (cols, "cols"), (max_steps, "max_steps")):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise LaminaValueError(f"GridWorld: {n} must be a positive int, got {v!r}")
        if rows * cols < 2:
            raise LaminaValueError(f"GridWorld: the grid needs at least 2 cells, got {rows}x{cols}")
        if not 0.0 <= slip <= 1.0:
            raise LaminaValueError(f"GridWorld: slip must be a probability in [0, 1], got {slip!r}")
        self.rows, self.cols = int(rows), int(cols)
        self.start, self.goal = (0, 0), (self.rows - 1, self.cols - 1)
        self.walls = {tuple(int(i) for i in w) for w in walls}
        for w in self.walls:
            if not (0 <= w[0] < rows and 0 <= w[1] < cols) or w in (self.start, self.goal):
                raise LaminaValueError(f"GridWorld: wall {w} must be inside the {rows}x{cols} grid "
                                       "and not on the start or the goal")
        self.max_steps, self.step_reward, self.slip = int(max_steps), float(step_reward), slip
        self.observation_space = Box(0.0, 1.0, (self.rows * self.cols,))
        self.action_space = Discrete(4)
        self._rng = np.random.default_rng()
        self._pos = None
        self._t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.rows * self.cols, dtype=np.float32)
        obs[self._pos[0] * self.cols + self._pos[1]] = 1.0
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        self._pos, self._t = self.start, 0
        return self._obs(), {}

    def step(self, action):
        if self._pos is None:
            raise LaminaValueError("GridWorld.step: call reset() before step()")
        if not self.action_space.contains(action):
            raise LaminaValueError(f"GridWorld.step: action must be an int in [0, 4), got "
                                   f"{action!r}")
        if self.slip and self._rng.random() < self.slip:
            action = int(self._rng.integers(4))
        r, c = self._pos[0] + _MOVES[action][0], self._pos[1] + _MOVES[action][1]
        if 0 <= r < self.rows and 0 <= c < self.cols and (r, c) not in self.walls:
            self._pos = (int(r), int(c))
        self._t += 1
        terminated = self._pos == self.goal
        truncated = not terminated and self._t >= self.max_steps
        reward = 1.0 if terminated else self.step_reward
        return self._obs(), reward, terminated, truncated, {}

    def shortest_path(self) -> int:
        """The fewest steps from start to goal (breadth-first search)."""
        frontier, seen, d = [self.start], {self.start}, 0
        while frontier:
            if self.goal in frontier:
                return d
            nxt = []
            for p in frontier:
                for dr, dc in _MOVES:
                    q = (p[0] + dr, p[1] + dc)
                    if (0 <= q[0] < self.rows and 0 <= q[1] < self.cols
                            and q not in self.walls and q not in seen):
                        seen.add(q)
                        nxt.append(q)
            frontier, d = nxt, d + 1
        raise LaminaValueError("GridWorld: the goal cannot be reached")

    def render(self) -> str:
        grid = [["#" if (r, c) in self.walls else "." for c in range(self.cols)]
                for r in range(self.rows)]
        grid[self.goal[0]][self.goal[1]] = "G"
        if self._pos is not None:
            grid[self._pos[0]][self._pos[1]] = "A"
        return "\n".join("".join(row) for row in grid)

    def close(self) -> None:
        pass
