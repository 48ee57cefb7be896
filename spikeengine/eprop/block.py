"""An e-prop network running inside the event-driven engine as a clocked block (:meth:`Network.eprop`)."""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as dt
from ..errors import NetworkError, ParameterError
from ..models import NeuronModel
from .network import EpropNetwork, EpropResult, check_targets


class _EpropUnits(NeuronModel):
    """The model of an e-prop block's populations: clocked, driven by the block (no parameters here)."""

    clocked = True
    kind = dt.KIND_SOURCE
    state_vars = ()
    defaults = {}

    def __init__(self, block, what, spiking):
        self.block = block
        self.what = what
        self.spiking = spiking
        self.dt = block.network.dt
        self.params = {}

    def __repr__(self):
        return f"EpropUnits({self.block.name!r}, {self.what})"

    def fill(self, P, S, rows, label=None):
        """Nothing to validate: the block's :class:`EpropNetwork` did."""


class EpropBlock:
    """An :class:`~spikeengine.eprop.EpropNetwork` advanced on the engine's clock (see :meth:`Network.eprop`).

    Attributes
    ----------
    network : EpropNetwork
        The e-prop network: its weights, optimizer and state are the block's.
    rec : Population
        The recurrent neurons: their spikes are events, connect them to any population.
    out : Population
        The readouts (they never spike).
    inputs : Population or None
        The population whose neuron ``i`` is e-prop input ``i`` (``W_in[:, i]``).
    learn : bool
        Learn while running (default True); ``False`` runs with ``eta = 0``.
    record_weights : bool
        Record NEST's weight-recorder events in the results.
    """

    def __init__(self, net, network, inputs, delay, name):
        if not isinstance(network, EpropNetwork):
            raise NetworkError(f"Network.eprop: expected an EpropNetwork, got {type(network).__name__}")
        if any(b.network is network for b in net._blocks):
            raise NetworkError("Network.eprop: this EpropNetwork is already a block of the network")
        self.network = network
        self.name = name
        h = network.dt
        if inputs is None:
            if network.n_in:
                raise NetworkError(f"e-prop block {name!r}: the network has n_in = {network.n_in} inputs; pass "
                                   "inputs= a population of that size")
        else:
            from ..network import Population

            if not isinstance(inputs, Population) or inputs.net is not net:
                raise NetworkError(f"e-prop block {name!r}: inputs must be a population of this network, got "
                                   f"{inputs!r}")
            if inputs.size != network.n_in:
                raise NetworkError(f"e-prop block {name!r}: inputs {inputs.name!r} has {inputs.size} neurons but the "
                                   f"e-prop network has n_in = {network.n_in} (W_in has {network.n_in} columns)")
        self.inputs = inputs
        delay = h if delay is None else delay
        if isinstance(delay, bool) or not isinstance(delay, (int, float, np.integer, np.floating)) or not (
                math.isfinite(delay) and delay >= h * (1 - 1e-12)):
            raise NetworkError(f"e-prop block {name!r}: the input delay must be a number of ms >= dt = {h} "
                               f"(got {delay!r}); NEST's e-prop synapses use exactly dt")
        self.delay = float(delay)
        self.learn = True
        self.record_weights = False
        self._tg = self._win = None  # targets not used yet (set_targets), and their learning window
        self.rec = net._add(f"{name}.rec", network.n_rec, _EpropUnits(self, "rec", True))
        self.out = net._add(f"{name}.out", network.n_out, _EpropUnits(self, "out", False))
        self._reset()

    def __repr__(self):
        ep = self.network
        return (f"<EpropBlock {self.name!r}: {ep.n_in} inputs, {ep.n_rec} recurrent, {ep.n_out} readouts, "
                f"dt={ep.dt} ms>")

    def _reset(self):
        """Back to t = 0: results are dropped; targets not used yet stay, for the updates from 0 on."""
        self._tg0 = 0
        self._results = []

    def set_targets(self, targets, learning_window=None):
        """Targets of the readouts for the next updates (row 0: the update that ends one ``dt`` after now).

        Parameters
        ----------
        targets : array_like (n_steps, n_out) or None
            ``y*`` per update; ``None``: no targets (no error, no learning signal). Runs may not go past the
            last row given.
        learning_window : array_like (n_steps,), optional
            The 0/1 gate of the error per update (event scheme); default 1.

        Examples
        --------
        >>> import numpy as np, spikeengine as se
        >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
        >>> net = se.Network()
        >>> ep = EpropNetwork(0, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 0)), np.zeros((2, 2)),
        ...                   np.zeros((1, 2)), np.zeros((2, 1)))
        >>> blk = net.eprop(ep)
        >>> blk.set_targets(np.zeros((5, 1)))
        >>> net.run(5.0)
        >>> blk.last_run.readout.shape
        (5, 1)
        """
        ep = self.network
        if targets is None:
            if learning_window is not None:
                raise NetworkError(f"e-prop block {self.name!r}: a learning_window needs targets")
            self._tg = None
            self._win = None
            return
        tg = check_targets(targets, ep.n_out, f"e-prop block {self.name!r}")
        if learning_window is None:
            win = None
        elif ep.scheme != "event":
            raise NetworkError(f"e-prop block {self.name!r}: a learning_window per step applies to scheme='event'; "
                               "the bsshslm_2020 scheme uses the network's learning_window (ms)")
        else:
            win = np.asarray(learning_window, dtype=np.float64)
            if win.shape != (tg.shape[0],):
                raise NetworkError(f"e-prop block {self.name!r}: learning_window has shape {win.shape}; expected "
                                   f"({tg.shape[0]},) like the targets")
            if not np.isfinite(win).all():
                raise NetworkError(f"e-prop block {self.name!r}: learning_window contains NaN or inf")
        self._tg, self._win, self._tg0 = tg, win, ep.t

    def _targets_for(self, k0, n):
        if self._tg is None:
            return None, None
        a, b = k0 - self._tg0, k0 - self._tg0 + n
        if a < 0 or b > self._tg.shape[0]:
            h = self.network.dt
            raise NetworkError(f"e-prop block {self.name!r}: the targets cover the updates ending at "
                               f"({self._tg0 * h}, {(self._tg0 + self._tg.shape[0]) * h}] ms but the run reaches "
                               f"{(k0 + n) * h} ms; give targets for the whole run (set_targets), or None")
        tg = self._tg[a:b]
        win = None if self._win is None else self._win[a:b]
        self._tg, self._tg0 = self._tg[b:], k0 + n  # consumed rows are released
        if self._win is not None:
            self._win = self._win[b:]
        return tg, win

    @property
    def last_run(self):
        """The :class:`~spikeengine.eprop.EpropResult` of the last ``Network.run`` call (all its updates).

        ``spike_steps`` are update indices: update ``k`` emits at ``(k + 1) * dt`` ms.
        """
        res = self._results
        if not res:
            return None
        if len(res) > 1:
            wev = None
            if res[0].weight_events is not None:
                wev = [tuple(r.weight_events[k] for k in ("step", "proj", "pre", "post", "weight")) for r in res]
            merged = EpropResult(np.concatenate([r.readout for r in res]), np.concatenate([r.error for r in res]),
                                 sum(r.loss for r in res),
                                 (np.concatenate([r.spike_steps for r in res]),
                                  np.concatenate([r.spike_ids for r in res])), wev, res[0].t_start, res[0].dt)
            self._results = [merged]
        return self._results[0]


class BlockRunner:
    """:meth:`EpropNetwork.run`'s interface for an :class:`EpropBlock`, so that :func:`~spikeengine.eprop.train`
    and :func:`~spikeengine.eprop.evaluate` drive a block inside its Network.

    A run feeds the raster into the block's input population (a stream source: raster row ``r`` becomes the
    spike at ``(t + r + 1) dt``), sets the targets and runs the whole Network for the raster's steps.
    Everything else (``n_in``, ``scheme``, ``t``, ...) is the block's :class:`EpropNetwork`'s.
    """

    def __init__(self, block, where="train"):
        inp = block.inputs
        if inp is None or inp.source is None or inp.source[0] != "stream":
            raise ParameterError(f"{where}: the e-prop block {block.name!r} takes its inputs from "
                                 f"{'nothing' if inp is None else repr(inp.name)}; to present samples to a block, "
                                 "give it a stream source as inputs (net.stream_source(n_in)) or drive it yourself "
                                 "(net.feed, block.set_targets, net.run)")
        self.block = block

    def __getattr__(self, name):
        return getattr(self.block.network, name)

    def run(self, raster, targets, learning_window=None, learn=True):
        """Present one sample; returns the :class:`EpropResult` of its updates."""
        blk = self.block
        ep = blk.network
        net = blk.rec.net
        rows, ids = np.nonzero(raster)
        net.feed(blk.inputs, (ep.t + rows + 1) * ep.dt, ids)
        blk.set_targets(targets, learning_window)
        old, blk.learn = blk.learn, bool(learn)
        try:
            net.run(raster.shape[0] * ep.dt)
        finally:
            blk.learn = old
        return blk.last_run
