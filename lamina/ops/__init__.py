"""Every op as a function on tensors; ``Tensor`` methods and the ``lamina.*`` functions call
these."""

from lamina.ops.elementwise import *  # noqa: F401,F403
from lamina.ops.indexing import *  # noqa: F401,F403
from lamina.ops.linalg import *  # noqa: F401,F403
from lamina.ops.movement import *  # noqa: F401,F403
from lamina.ops.reduce import *  # noqa: F401,F403
