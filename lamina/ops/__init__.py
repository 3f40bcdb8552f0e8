"""Every op as a function on tensors; ``Tensor`` methods and the ``lamina.*`` functions call
these."""

from lamina.ops.conv import *  # noqa: F401,F403,E402  (lamina.conv2d, like torch.conv2d)
from lamina.ops.cumulative import *  # noqa: F401,F403
from lamina.ops.elementwise import *  # noqa: F401,F403
from lamina.ops.indexing import *  # noqa: F401,F403
from lamina.ops.linalg import *  # noqa: F401,F403
from lamina.ops.movement import *  # noqa: F401,F403
from lamina.ops.pool import *  # noqa: F401,F403,E402
from lamina.ops.random import *  # noqa: F401,F403
from lamina.ops.reduce import *  # noqa: F401,F403
from lamina.ops.sorting import *  # noqa: F401,F403
from lamina.ops.special import *  # noqa: F401,F403
