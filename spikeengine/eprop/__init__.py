"""e-prop (eligibility propagation) learning, number for number as NEST 3.10 (see ``docs/eprop.md``).

Two schemes, as NEST's two model families (EPROP.md):

* ``"event"`` (NEST ``eprop_iaf``, ``eprop_iaf_adapt``, ``eprop_readout``, ``eprop_synapse``): online,
  the weight changes at every presynaptic spike;
* ``"bsshslm_2020"`` (NEST ``*_bsshslm_2020``, Bellec et al. 2020): once per update interval.

Examples
--------
>>> import numpy as np
>>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout, Adam
>>> net = EpropNetwork(2, [(EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0), 3)], EpropReadout(C_m=1.0),
...                    W_in=np.full((3, 2), 0.02), W_rec=np.zeros((3, 3)), W_out=np.full((1, 3), 0.1),
...                    feedback="symmetric", optimizer=Adam(eta=1e-3))
>>> res = net.run([[1.0, 2.0], [2.0]], targets=np.zeros((6, 1)))
>>> bool(np.array_equal(net.B, net.W_out.T))
True
"""

from .models import EpropIAF, EpropIAFAdapt, EpropReadout
from .network import EpropNetwork, EpropResult
from .optimizers import Adam, GradientDescent
from .surrogates import SURROGATES, surrogate_gradient
from .training import (
    History,
    ShdDataset,
    evaluate,
    load_checkpoint,
    load_network,
    network_config,
    restore_checkpoint,
    save_checkpoint,
    spike_raster,
    train,
)

__all__ = ["Adam", "EpropIAF", "EpropIAFAdapt", "EpropNetwork", "EpropReadout", "EpropResult", "GradientDescent",
           "SURROGATES", "surrogate_gradient",
           "History", "ShdDataset", "evaluate", "load_checkpoint", "load_network", "network_config",
           "restore_checkpoint", "save_checkpoint", "spike_raster", "train"]
