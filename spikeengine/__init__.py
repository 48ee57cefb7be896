"""spikeengine: an exact, event-driven simulator for spiking neural networks.

Public time unit: milliseconds. See ``docs/`` for the guide.

Examples
--------
>>> import spikeengine as se
>>> net = se.Network(seed=1)
>>> stim = net.spike_source([[1.0, 1.5, 2.0]])
>>> cell = net.population(1, se.LIF(E_L=0.0, V_m=0.0, V_th=15.0, V_reset=0.0, tau_m=20.0, C_m=1.0))
>>> _ = net.connect(stim, cell, weight=6.0, delay=1.0)
>>> cell.record("spikes")
>>> net.run(5.0)
>>> cell.spikes[0].tolist()
[3.0]
"""

__version__ = "0.1.0"

from . import io as io  # sensor streams: spikeengine.io.read_events, SensorMap, ...
from . import plasticity as plasticity  # noqa: E402  (spikeengine.plasticity.from_nest, ...)
from .btsp import BTSP
from .clocked import Clocked
from .connectors import AllToAll, FixedInDegree, FixedProbability, FromArrays, OneToOne, from_sparse
from .errors import BackendError, InputFormatError, NetworkError, ParameterError, SpikeEngineError
from .files import load_network, save_network
from .models import ALIF, IF, LIF, LeakyIntegrator, LIFExp, Parrot
from .network import Network, Population, Projection
from .plasticity import STDP, DopamineSTDP, TripletSTDP

iaf_psc_delta = LIF
iaf_psc_exp = LIFExp


def show_config(file=None):
    """Print the version, the active kernel backend and why it was chosen.

    Examples
    --------
    >>> import spikeengine as se
    >>> se.show_config()  # doctest: +ELLIPSIS
    spikeengine ...
    """
    import sys

    from ._backend import describe

    out = file or sys.stdout
    info = describe()
    print(f"spikeengine {__version__}", file=out)
    how = f"requested by SPIKEENGINE_BACKEND={info['requested']}" if info["requested"] else "best available"
    print(f"  active backend: {info['active']} ({how})", file=out)
    for name in ("cython", "numba", "python"):
        print(f"  {name}: {info[name]}", file=out)


__all__ = [
    "ALIF", "IF", "LIF", "AllToAll", "BackendError", "Clocked", "FixedInDegree", "FixedProbability", "FromArrays",
    "InputFormatError", "LIFExp", "LeakyIntegrator", "Network", "NetworkError", "OneToOne", "ParameterError",
    "Parrot", "Population", "Projection", "SpikeEngineError", "from_sparse", "iaf_psc_delta", "iaf_psc_exp",
    "load_network", "save_network", "show_config", "__version__", "STDP", "TripletSTDP", "DopamineSTDP", "BTSP",
    "plasticity",
]
