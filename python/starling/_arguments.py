"""Checks of what the Python API hands to the C++ one (starling._starling).

Each bad argument is refused here, with an error that names it and what it
may be, before pybind11 sees it: pybind11 would either coerce it silently
(int(2.5) is 2, True is 1) or refuse it with its own signature text
("incompatible function arguments ... Invoked with"). TypeError for a value
of the wrong kind, ValueError for one out of its range.
"""

import numbers
import operator

SIZE_MAX = 2**63 - 1  # a tensor size is an int64 in the C++ layout
JOIN_TIMEOUT_MAX_S = 24 * 3600  # the join-timeout setting's bound (apps/embed_config.h)
_SHAPES_EXAMPLE = "e.g. [[784, 128], [128]]"


def _is_whole_number(value):
    """int and numpy/torch integer scalars (they have __index__); not bool, which is one too."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _is_sequence(value):
    if isinstance(value, (str, bytes, bytearray)):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def shapes(value, call):
    """The tensor shapes as lists of ints: one list per tensor, each size a whole number from 1 to 2**63-1.

    The buffer's size against the shapes' product is the C++ attach()'s check."""
    if not _is_sequence(value):
        raise TypeError(f"{call}: shapes must be a list of shapes, one per tensor ({_SHAPES_EXAMPLE}), "
                        f"not {type(value).__name__} {value!r}")
    checked = []
    for i, shape in enumerate(value):
        if not _is_sequence(shape):
            raise TypeError(f"{call}: shape {i} must be a list of sizes ({_SHAPES_EXAMPLE}), "
                            f"not {type(shape).__name__} {shape!r}")
        sizes = list(shape)
        for size in sizes:
            if not _is_whole_number(size):
                raise TypeError(f"{call}: shape {i} {sizes!r}: sizes must be whole numbers (int), "
                                f"not {type(size).__name__} {size!r}")
            if not 1 <= operator.index(size) <= SIZE_MAX:
                raise ValueError(f"{call}: shape {i} {sizes!r}: size {operator.index(size)} is out of range "
                                 f"(1 to 2**63-1)")
        checked.append([operator.index(size) for size in sizes])
    if not checked:
        raise ValueError(f"{call}: shapes is empty: give one shape per tensor ({_SHAPES_EXAMPLE})")
    return checked


def name(value, call):
    if not isinstance(value, str):
        raise TypeError(f"{call}: name must be a str, not {type(value).__name__} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: pybind11 would refuse it with its own text
        raise ValueError(f"{call}: name {value!r} is not valid text (it cannot be UTF-8: {e.reason})") from None
    return value


def timeout_ms(value, what, call):
    """A timeout in seconds (more than 0, at most 24 h) as whole milliseconds, at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{call}: {what} must be a number of seconds, not {type(value).__name__} {value!r}")
    if not 0 < value <= JOIN_TIMEOUT_MAX_S:  # NaN fails both comparisons
        raise ValueError(f"{call}: {what} is out of range: give more than 0 and at most {JOIN_TIMEOUT_MAX_S} "
                         f"seconds (24 h), not {value!r}")
    return max(1, round(float(value) * 1000))



def buffer(value, what, call):
    """An object with the buffer protocol (numpy, array.array, memoryview); its dtype and layout are checked in C++."""
    try:
        memoryview(value).release()
    except TypeError:
        raise TypeError(f"{call}: {what} must be a float32 torch tensor or a float32 buffer (numpy array, "
                        f"array.array('f')), not {type(value).__name__}") from None
    return value
