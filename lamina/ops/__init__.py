"""Every op as a function on tensors; ``Tensor`` methods and the ``lamina.*`` functions call
these."""

from lamina.ops import derivatives  # noqa: F401,E402  (backward_graph of each op)
from lamina.ops.contraction import *  # noqa: F401,F403
from lamina.ops.conv import *  # noqa: F401,F403,E402  (lamina.conv2d, like torch.conv2d)
from lamina.ops.conv3d import *  # noqa: F401,F403
from lamina.ops.cumulative import *  # noqa: F401,F403
from lamina.ops.elementwise import *  # noqa: F401,F403
from lamina.ops.indexing import *  # noqa: F401,F403
from lamina.ops.linalg import *  # noqa: F401,F403
from lamina.ops.movement import *  # noqa: F401,F403
from lamina.ops.pool import *  # noqa: F401,F403,E402
from lamina.ops.pool3d import *  # noqa: F401,F403
from lamina.ops.random import *  # noqa: F401,F403
from lamina.ops.reduce import *  # noqa: F401,F403
from lamina.ops.resample import *  # noqa: F401,F403
from lamina.ops.scattering import *  # noqa: F401,F403
from lamina.ops.shaping import *  # noqa: F401,F403
from lamina.ops.sorting import *  # noqa: F401,F403
from lamina.ops.special import *  # noqa: F401,F403
