import os

import pytest

from spikeengine._backend import _load

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def available_backends():
    """Backends that load here; the test matrix runs every semantic test on each."""
    names = ["python", "numba", "cython"]
    if os.environ.get("SPIKEENGINE_NO_EXTENSIONS", "") not in ("", "0"):
        names.remove("cython")
    return [n for n in names if _load(n) is not None]


@pytest.fixture(params=available_backends())
def backend(request):
    return request.param
