"""Hypothesis strategies for shapes and broadcasting."""

from hypothesis import strategies as st


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


@st.composite
def broadcastable_pair(draw, min_dims=0, max_dims=4, min_side=0, max_side=4):
    """Two shapes that broadcast together (dims dropped or set to 1 on either side)."""
    full = draw(shapes(min_dims, max_dims, min_side, max_side))
    a, b = list(full), list(full)
    for i in range(len(full)):
        r = draw(st.integers(0, 3))
        if r == 1:
            a[i] = 1
        elif r == 2:
            b[i] = 1
    ka = draw(st.integers(0, len(a)))
    kb = draw(st.integers(0, len(b)))
    side = draw(st.booleans())
    return (tuple(a[ka:]) if side else tuple(a)), (tuple(b) if side else tuple(b[kb:]))
