"""Training loop, evaluation, checkpoints and input helpers for :class:`~spikeengine.eprop.EpropNetwork`.

The loop is the one NEST's e-prop examples write by hand, packaged in the style of Keras / snnTorch
training utilities::

    history = train(net, samples, iterations=200, batch_size=32, eval_every=10, test_set=test,
                    checkpoint_every=50, checkpoint_path="ckpt.npz")
    history.plot(); print(history.to_json())

**Samples.** A data set is a sequence (``len`` + indexing; cycled epoch by epoch, optionally shuffled)
or any iterable / generator (consumed as it comes, e.g. a task generator that draws fresh trials) of
samples ``(inputs, target)`` or ``(inputs, target, window)``:

* ``inputs``: a 0/1 raster ``(n_steps, n_in)``; a tuple ``(times_ms, ids)`` or a dict with ``"times"``
  and ``"ids"``; an object with ``t_ms()`` and ``x`` (:class:`spikeengine.io.Events`); a *list* of
  ``n_in`` spike-time arrays (one per input neuron); or an event stream, any other iterable of
  ``(times_ms, ids)`` chunks. Times are in ms relative to the start of the sample and are binned to
  the ``dt`` grid (``step = floor(t / dt)``; several spikes of one input in one step count once).
* ``target``: an array ``(n_steps, n_out)`` (or ``(n_steps,)`` for one readout) of ``y*`` per step,
  or an integer class label (a one-hot target over the whole sample; classification).
* ``window`` (event scheme only): the 0/1 learning-window gate per step (NEST's readout receptor 1);
  default the ``learning_window`` argument of :func:`train`, else 1 everywhere. In the
  ``bsshslm_2020`` scheme the network's ``learning_window`` (the last ms of every update interval)
  applies, and a sample must span whole update intervals.

**Iterations and batches.** One iteration runs ``batch_size`` samples back to back through
:meth:`EpropNetwork.run` (the state continues from sample to sample, as in NEST, where all trials are
one long simulation) and records the mean loss of its samples (and, for classification, the
fraction classified correctly: the label's readout has the largest mean readout signal over the
learning window, ties counting as errors). *How the weights are updated is the optimizer's business* (EPROP.md §6): the
loop never touches it.

* ``scheme="bsshslm_2020"``: the optimizer's ``batch_size`` counts update intervals (trials). Set
  ``Adam(batch_size=B)`` with the loop's ``batch_size=B`` (one trial per sample) to average the
  gradient over the iteration's trials and update once per iteration, as Bellec et al. and NEST.
* ``scheme="event"``: the optimizer's ``batch_size`` counts *time steps* (weights change online at
  presynaptic spikes). ``batch_size=1`` (NEST's examples) updates online; to average over a
  mini-batch of ``B`` sequences of ``S`` steps use ``GradientDescent(batch_size=B * S)`` (batches are
  aligned with the loop's iterations when every sample has ``S`` steps and training starts at t = 0).

**Checkpoints** (:func:`save_checkpoint`, :func:`load_checkpoint`, :func:`restore_checkpoint`,
:func:`load_network`) hold the weights, every state array and scalar of the network (neurons,
traces, histories, per-synapse optimizer states, time), the optimizer, the constructor configuration
and optionally the :class:`History`: restoring one and going on gives bit-identical weights to an
uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from .._atomic import atomic_write
from ..errors import InputFormatError, NetworkError, ParameterError
from .models import EpropIAF, EpropIAFAdapt, EpropReadout
from .network import EpropNetwork
from .optimizers import make_optimizer

__all__ = ["History", "ShdDataset", "evaluate", "load_checkpoint", "load_network", "network_config",
           "restore_checkpoint", "save_checkpoint", "spike_raster", "train"]

#: version of the checkpoint layout written by :func:`save_checkpoint`
CHECKPOINT_VERSION = 1
_MAGIC = "spikeengine.eprop.checkpoint"
# attributes the constructor derives from the configuration (never changed by running)
_DERIVED = frozenset({"_rec_posts", "_sg_codes", "_rec_arrays", "_out_arrays"})
_CORE = ("_state", "_syn", "_hist", "_h0", "W_in", "W_rec", "W_out", "B")
_MODELS = {"EpropIAF": EpropIAF, "EpropIAFAdapt": EpropIAFAdapt}


# ================================================================================================ inputs
def spike_raster(inputs, n_in, n_steps=None, dt=1.0, name="inputs"):
    """Convert spike input in any accepted form to a boolean raster ``(n_steps, n_in)``.

    Parameters
    ----------
    inputs : array_like or tuple or dict or list or iterable
        A 0/1 raster ``(n_steps, n_in)``; ``(times_ms, ids)`` (tuple) or ``{"times": ..., "ids": ...}``;
        an object with ``t_ms()`` and ``x`` (``spikeengine.io.Events``); a list of ``n_in`` spike-time
        arrays; or an iterable of ``(times_ms, ids)`` chunks (an event stream).
    n_in : int
        Number of input neurons (columns).
    n_steps : int, optional
        Number of steps; default the raster's length, or the step of the last spike + 1.
    dt : float
        Step in ms; spike ``t`` falls in step ``floor(t / dt)``.
    name : str
        Name used in error messages.

    Returns
    -------
    ndarray of bool, shape (n_steps, n_in)

    Raises
    ------
    NetworkError
        Wrong shapes, ids outside ``[0, n_in)``, negative or non-finite times, spikes at or after
        ``n_steps * dt``, raster values other than 0/1; the message names ``name``.

    Examples
    --------
    >>> spike_raster(([0.0, 2.5, 2.9], [1, 0, 0]), n_in=2, n_steps=4).astype(int).tolist()
    [[0, 1], [0, 0], [1, 0], [0, 0]]
    >>> chunks = iter([([0.0], [0]), ([3.0], [1])])          # an event stream
    >>> spike_raster(chunks, n_in=2).astype(int).tolist()
    [[1, 0], [0, 0], [0, 0], [0, 1]]
    >>> spike_raster(([1.0], [5]), n_in=2, n_steps=3)
    Traceback (most recent call last):
    ...
    spikeengine.errors.NetworkError: inputs: id 5 of spike 0 is outside [0, 2) (n_in = 2)
    """
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        return _check_raster(inputs, n_in, n_steps, name)
    if isinstance(inputs, np.ndarray):
        raise NetworkError(f"{name}: a numpy array must be a 2-D raster (n_steps, n_in); got shape {inputs.shape}")
    if isinstance(inputs, Mapping):
        missing = [k for k in ("times", "ids") if k not in inputs]
        if missing:
            raise NetworkError(f"{name}: a dict input needs the keys 'times' and 'ids' (missing {missing})")
        times, ids = inputs["times"], inputs["ids"]
    elif hasattr(inputs, "t_ms") and hasattr(inputs, "x"):
        times, ids = inputs.t_ms(), inputs.x
    elif isinstance(inputs, tuple) and len(inputs) == 2:
        times, ids = inputs
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != n_in:
            raise NetworkError(f"{name}: a list of spike trains must have one entry per input neuron: "
                               f"got {len(inputs)}, n_in = {n_in}")
        times = [np.asarray(tr, dtype=np.float64).reshape(-1) for tr in inputs]
        ids = [np.full(tr.size, i) for i, tr in enumerate(times)]
        times = np.concatenate(times) if times else np.zeros(0)
        ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (str, bytes)):
        ts, us = [], []
        for c, chunk in enumerate(inputs):
            try:
                t_c, u_c = chunk
            except (TypeError, ValueError):
                raise NetworkError(f"{name}: event-stream chunk {c} is not a (times_ms, ids) pair") from None
            t_c = np.asarray(t_c, dtype=np.float64).reshape(-1)
            u_c = np.asarray(u_c).reshape(-1)
            if t_c.shape != u_c.shape:
                raise NetworkError(f"{name}: event-stream chunk {c} has {t_c.size} times but {u_c.size} ids")
            ts.append(t_c)
            us.append(u_c)
        times = np.concatenate(ts) if ts else np.zeros(0)
        ids = np.concatenate(us) if us else np.zeros(0, dtype=np.int64)
    else:
        raise NetworkError(f"{name}: unsupported input type {type(inputs).__name__}; pass a raster, (times, ids), "
                           "a list of spike trains or an iterable of (times, ids) chunks")
    return _events_to_raster(times, ids, n_in, n_steps, dt, name)


def _check_raster(r, n_in, n_steps, name):
    if r.shape[1] != n_in:
        raise NetworkError(f"{name}: the raster has {r.shape[1]} columns; expected n_in = {n_in}")
    if n_steps is not None and r.shape[0] != n_steps:
        raise NetworkError(f"{name}: the raster has {r.shape[0]} steps; expected {n_steps}")
    if r.dtype != bool:
        bad = np.argwhere((r != 0) & (r != 1))
        if bad.size:
            k, i = bad[0]
            raise NetworkError(f"{name}: raster[{k}, {i}] = {r[k, i].item()!r}; a raster holds 0/1 values")
    return r.astype(bool, copy=False)


def _events_to_raster(times, ids, n_in, n_steps, dt, name):
    try:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise NetworkError(f"{name}: spike times are not numeric") from None
    ids_raw = np.asarray(ids).reshape(-1)
    if times.shape != ids_raw.shape:
        raise NetworkError(f"{name}: {times.size} spike times but {ids_raw.size} ids")
    if ids_raw.size and not np.issubdtype(ids_raw.dtype, np.integer):
        try:
            f = ids_raw.astype(np.float64)
        except (TypeError, ValueError):
            raise NetworkError(f"{name}: spike ids are not numeric") from None
        bad = np.flatnonzero(~np.isfinite(f) | (f != np.round(f)))
        if bad.size:
            raise NetworkError(f"{name}: id {ids_raw[bad[0]].item()!r} of spike {bad[0]} is not an integer")
        ids_raw = f
    ids = ids_raw.astype(np.int64)
    bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
    if bad.size:
        raise NetworkError(f"{name}: spike {bad[0]} has time {float(times[bad[0]])!r} ms; times must be finite "
                           "and >= 0")
    bad = np.flatnonzero((ids < 0) | (ids >= n_in))
    if bad.size:
        raise NetworkError(f"{name}: id {ids[bad[0]]} of spike {bad[0]} is outside [0, {n_in}) (n_in = {n_in})")
    steps = np.floor(times / dt + 1e-9).astype(np.int64)
    if n_steps is None:
        n_steps = int(steps.max()) + 1 if steps.size else 0
    bad = np.flatnonzero(steps >= n_steps)
    if bad.size:
        raise NetworkError(f"{name}: spike {bad[0]} at {float(times[bad[0]])!r} ms lies at or after the end of the "
                           f"sample ({n_steps} steps = {n_steps * dt} ms)")
    raster = np.zeros((int(n_steps), n_in), dtype=bool)
    raster[steps, ids] = True
    return raster


class _Sample:
    """One prepared sample: raster, targets, window, label (or None), mask of error-bearing steps."""

    __slots__ = ("raster", "targets", "window", "label", "mask")


def _prepare(net, sample, where, learning_window, sequence_steps):
    if isinstance(sample, tuple | list) and len(sample) in (2, 3):
        inputs, target = sample[0], sample[1]
        window = sample[2] if len(sample) == 3 else None
    else:
        raise NetworkError(f"{where}: a sample must be (inputs, target) or (inputs, target, window); got "
                           f"{type(sample).__name__}" + (f" of length {len(sample)}" if hasattr(sample, "__len__")
                                                         else ""))
    label = None
    n_steps = None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        label = int(target)
        if not 0 <= label < net.n_out:
            raise NetworkError(f"{where}: label {label} is outside [0, {net.n_out}) (n_out = {net.n_out} readouts)")
    elif target is None:
        raise NetworkError(f"{where}: target is None; training and evaluation need targets")
    else:
        t = np.asarray(target, dtype=np.float64)
        if t.ndim == 1 and net.n_out == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[1] != net.n_out:
            raise NetworkError(f"{where}: target has shape {t.shape}; expected (n_steps, {net.n_out}) or an integer "
                               "class label")
        bad = np.argwhere(~np.isfinite(t))
        if bad.size:
            raise NetworkError(f"{where}: target[{bad[0][0]}, {bad[0][1]}] is not finite")
        target = t
        n_steps = t.shape[0]
    if n_steps is None:
        if sequence_steps is not None:
            n_steps = int(sequence_steps)
        elif isinstance(inputs, np.ndarray) and inputs.ndim == 2:
            n_steps = inputs.shape[0]
        elif net.scheme == "bsshslm_2020":
            n_steps = net.update_steps
        else:
            raise NetworkError(f"{where}: cannot tell the sample's length: give a raster, a target array or "
                               "train(..., sequence_steps=...)")
    s = _Sample()
    s.raster = spike_raster(inputs, net.n_in, n_steps, net.dt, name=f"{where} inputs")
    if label is not None:
        target = np.zeros((n_steps, net.n_out))
        target[:, label] = 1.0
    s.targets = target
    if window is None:
        window = learning_window
    if net.scheme == "bsshslm_2020":
        if window is not None:
            raise ParameterError(f"{where}: a per-step learning window applies to scheme='event'; the bsshslm_2020 "
                                 "scheme uses the network's learning_window (ms)")
        T = net.update_steps
        if n_steps % T:
            raise NetworkError(f"{where}: the sample has {n_steps} steps; in the bsshslm_2020 scheme a sample must "
                               f"span whole update intervals ({T} steps)")
        s.window = None
        s.mask = (np.arange(n_steps) % T) >= T - net.window_steps
    else:
        if window is None:
            s.window = None
            s.mask = np.ones(n_steps, dtype=bool)
        else:
            w = np.asarray(window, dtype=np.float64).reshape(-1)
            if w.shape != (n_steps,):
                raise NetworkError(f"{where}: learning window has shape {w.shape}; expected ({n_steps},)")
            if not np.isfinite(w).all():
                raise NetworkError(f"{where}: learning window contains NaN or inf")
            s.window = w
            s.mask = w != 0
    if label is None and net.loss == "cross_entropy" and s.mask.any():
        label = int(np.argmax(s.targets[s.mask].mean(axis=0)))
    s.label = label
    return s


def _run_sample(net, s, learn, where):
    if net.scheme == "bsshslm_2020" and net.t % net.update_steps:
        raise NetworkError(f"{where}: the network is at step {net.t}, inside an update interval of "
                           f"{net.update_steps} steps; bsshslm_2020 samples must start at interval boundaries")
    res = net.run(s.raster, s.targets, learning_window=s.window, learn=learn)
    correct = None
    if s.label is not None and s.mask.any():
        mean = res.readout[s.mask].mean(axis=0)
        # correct: the label's readout is the unique maximum (a tie, e.g. a silent network, is not a hit)
        correct = bool(np.sum(mean >= mean[s.label]) == 1)
    return res.loss, correct


# ================================================================================================ history
class History:
    """What :func:`train` recorded, per iteration and per evaluation.

    Attributes
    ----------
    iteration : list of int
        Iteration numbers (1-based, continuing across :func:`train` calls given ``history=``).
    loss : list of float
        Mean loss of the iteration's samples (:attr:`EpropResult.loss`, e.g. ``0.5 sum_t err**2`` for MSE).
    accuracy : list of float or None
        Fraction of the iteration's samples classified correctly (``None``: regression).
    elapsed : list of float
        Seconds since the start of training (continuing across calls).
    test_iteration, test_loss, test_accuracy, test_error : list
        One entry per evaluation of the test set (``test_error = 1 - test_accuracy``; ``None`` for regression).

    Examples
    --------
    >>> h = History()
    >>> h.add(1, 2.0, 0.5, 0.1); h.add(2, 1.0, 0.75, 0.2)
    >>> h.loss, h.final_loss, len(h)
    ([2.0, 1.0], 1.0, 2)
    >>> History.from_json(h.to_json()).accuracy
    [0.5, 0.75]
    """

    _FIELDS = ("iteration", "loss", "accuracy", "elapsed", "test_iteration", "test_loss", "test_accuracy",
               "test_error")

    def __init__(self):
        for f in self._FIELDS:
            setattr(self, f, [])
        self.meta = {}

    def __len__(self):
        return len(self.iteration)

    def __repr__(self):
        last = f", loss={self.loss[-1]:.6g}" if self.loss else ""
        acc = f", accuracy={self.accuracy[-1]:.3f}" if self.accuracy and self.accuracy[-1] is not None else ""
        te = f", test_error={self.test_error[-1]:.3f}" if self.test_error and self.test_error[-1] is not None else ""
        return f"History(iterations={len(self)}{last}{acc}{te})"

    def add(self, iteration, loss, accuracy=None, elapsed=None):
        """Append one training iteration (used by :func:`train`)."""
        self.iteration.append(int(iteration))
        self.loss.append(float(loss))
        self.accuracy.append(None if accuracy is None else float(accuracy))
        self.elapsed.append(None if elapsed is None else float(elapsed))

    def add_test(self, iteration, loss, accuracy=None):
        """Append one test-set evaluation (used by :func:`train`)."""
        self.test_iteration.append(int(iteration))
        self.test_loss.append(float(loss))
        self.test_accuracy.append(None if accuracy is None else float(accuracy))
        self.test_error.append(None if accuracy is None else 1.0 - float(accuracy))

    @property
    def final_loss(self):
        """Loss of the last iteration (``nan`` before training)."""
        return self.loss[-1] if self.loss else math.nan

    def to_dict(self):
        """The history as a plain dict (JSON-serialisable)."""
        d = {f: list(getattr(self, f)) for f in self._FIELDS}
        d["meta"] = dict(self.meta)
        return d

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        h = cls()
        for f in cls._FIELDS:
            setattr(h, f, list(d.get(f, [])))
        h.meta = dict(d.get("meta", {}))
        return h

    def to_json(self, path=None, indent=None):
        """The history as JSON; also written to ``path`` (atomically) if given.

        Examples
        --------
        >>> h = History(); h.add(1, 3.5)
        >>> h.to_json()[:40]
        '{"iteration": [1], "loss": [3.5], "accur'
        """
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            from .._atomic import atomic_write_text

            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path):
        """Read a history written by :meth:`to_json` (a JSON string or a file path)."""
        text = text_or_path
        if not str(text_or_path).lstrip().startswith("{"):
            with open(text_or_path) as f:
                text = f.read()
        return cls.from_dict(json.loads(text))

    def plot(self, path=None, axes=None):
        """Plot the loss (log scale) and, if recorded, accuracy / test error per iteration.

        Needs matplotlib (imported only here). ``path``: save the figure there. ``axes``: draw into
        these (one or two matplotlib axes) instead of a new figure. Returns the figure.

        Examples
        --------
        >>> h = History(); h.add(1, 3.0); h.add(2, 2.0)
        >>> fig = h.plot()                                    # doctest: +SKIP
        """
        try:
            import matplotlib

            if axes is None and path is not None and "matplotlib.pyplot" not in sys.modules:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise ImportError("History.plot needs matplotlib (pip install matplotlib)") from exc
        classes = any(a is not None for a in self.accuracy) or any(a is not None for a in self.test_error)
        if axes is None:
            fig, axes = plt.subplots(2 if classes else 1, 1, sharex=True, figsize=(6, 5 if classes else 3),
                                     squeeze=False)
            axes = list(axes[:, 0])
        else:
            axes = list(np.atleast_1d(axes))
            fig = axes[0].figure
        ax = axes[0]
        ax.plot(self.iteration, self.loss, label="training loss")
        if self.test_loss:
            ax.plot(self.test_iteration, self.test_loss, "o-", label="test loss")
        if self.loss and min(self.loss) > 0 and max(self.loss) > 10 * min(self.loss):
            ax.set_yscale("log")
        ax.set_ylabel("loss")
        ax.legend()
        if classes and len(axes) > 1:
            ax2 = axes[1]
            it = [i for i, a in zip(self.iteration, self.accuracy) if a is not None]
            ax2.plot(it, [1.0 - a for a in self.accuracy if a is not None], label="training error")
            te = [(i, e) for i, e in zip(self.test_iteration, self.test_error) if e is not None]
            if te:
                ax2.plot(*zip(*te), "o-", label="test error")
            ax2.set_ylabel("error")
            ax2.set_ylim(0, 1)
            ax2.legend()
        axes[-1].set_xlabel("iteration")
        from matplotlib.ticker import MaxNLocator

        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


# ================================================================================================ loop
def evaluate(net, data, *, learning_window=None, sequence_steps=None, isolated=True, max_samples=None):
    """Run samples without learning and return their mean loss and accuracy.

    Parameters
    ----------
    net : EpropNetwork or EpropBlock
        A block needs ``isolated=False``.
    data : sequence or iterable of samples
        As :func:`train`.
    learning_window, sequence_steps
        As :func:`train`.
    isolated : bool
        ``True`` (default): the network's whole state (time, neurons, traces, optimizer states) is
        restored afterwards, so that evaluating does not change the training that follows.
        ``False``: NEST's way (``eta = 0`` phases): the network runs on with ``learn=False``, which
        advances time and the optimizer states.
    max_samples : int, optional
        Stop after this many samples.

    Returns
    -------
    dict
        ``loss`` (mean), ``accuracy`` and ``error`` (``None`` for regression), ``n`` (samples).

    Examples
    --------
    >>> import numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
    >>> net = EpropNetwork(2, EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0),
    ...                    EpropReadout(C_m=1.0), np.full((3, 2), 0.02), np.zeros((3, 3)),
    ...                    np.full((1, 3), 0.1), np.ones((3, 1)))
    >>> r = evaluate(net, [(([1.0, 2.0], [0, 1]), np.full(5, 0.05))])
    >>> r["n"], round(r["loss"], 6), net.t
    (1, 0.03625, 0)
    """
    net, ep = _runner(net, "evaluate")
    if isolated and net is not ep:
        raise ParameterError("evaluate: a block inside a Network cannot be evaluated in isolation (the Network's "
                             "event-driven state cannot be set aside); pass isolated=False")
    snap = _snapshot(net) if isolated else None
    losses, correct = [], []
    try:
        for k, sample in enumerate(data):
            if max_samples is not None and k >= max_samples:
                break
            s = _prepare(net, sample, f"evaluate: sample {k}", learning_window, sequence_steps)
            loss, ok = _run_sample(net, s, False, f"evaluate: sample {k}")
            losses.append(loss)
            if ok is not None:
                correct.append(ok)
    finally:
        if snap is not None:
            _restore(net, snap)
    acc = float(np.mean(correct)) if correct else None
    return {"loss": float(np.mean(losses)) if losses else math.nan, "accuracy": acc,
            "error": None if acc is None else 1.0 - acc, "n": len(losses)}


def _runner(net, where):
    """``(what runs the samples, the EpropNetwork)`` for an :class:`EpropNetwork` or an :class:`EpropBlock`."""
    from .block import BlockRunner, EpropBlock

    if isinstance(net, EpropBlock):
        return BlockRunner(net, where), net.network
    if not isinstance(net, EpropNetwork):
        raise ParameterError(f"{where}: net must be an EpropNetwork or an EpropBlock (got {type(net).__name__})")
    return net, net


def _fmt_time(s):
    if s is None or not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _print_progress(info, stream=None):
    stream = sys.stderr if stream is None else stream
    total = info["iterations"]
    line = f"[eprop] iter {info['iteration']}" + (f"/{total}" if total is not None else "")
    line += f"  loss {info['loss']:.5g}"
    if info["accuracy"] is not None:
        line += f"  acc {info['accuracy']:.3f}"
    if info.get("test_loss") is not None:
        line += f"  | test loss {info['test_loss']:.5g}"
        if info.get("test_error") is not None:
            line += f"  test err {info['test_error']:.3f}"
    line += f"  | {_fmt_time(info['elapsed'])} elapsed, ETA {_fmt_time(info['eta'])}"
    print(line, file=stream, flush=True)


def train(net, data, *, iterations=None, batch_size=1, learning_window=None, sequence_steps=None, shuffle=False,
          seed=None, eval_every=None, test_set=None, eval_isolated=True, progress=True, progress_every=None,
          callback=None, checkpoint_every=None, checkpoint_path=None, history=None):
    """Train ``net`` with e-prop on ``data``, ``batch_size`` samples per iteration.

    Parameters
    ----------
    net : EpropNetwork or EpropBlock
        A block (:meth:`spikeengine.Network.eprop`) whose inputs are a stream source is trained inside its
        Network: each sample is fed into the stream and the whole Network runs (``eval_isolated=False``).
    data : sequence or iterable of samples
        Samples ``(inputs, target)`` or ``(inputs, target, window)`` (see the module docstring). A
        sequence (``len`` and indexing) is cycled epoch by epoch; any other iterable (a generator of
        fresh trials, a stream) is consumed, and training stops when it is exhausted.
    iterations : int, optional
        Iterations to run in this call; default one epoch of a sequence (``ceil(len / batch_size)``),
        or until an iterable is exhausted.
    batch_size : int
        Samples per iteration, run back to back (the state continues). The loss and accuracy of an
        iteration are means over its samples. The *weight updates* follow the optimizer's own
        ``batch_size`` (update intervals in the bsshslm scheme, time steps in the event scheme):
        match it as the module docstring explains.
    learning_window : array_like (n_steps,), optional
        Event scheme: the default 0/1 gate of the error per step for samples without their own.
    sequence_steps : int, optional
        Length of samples whose length is not fixed by a raster or a target array (label targets with
        spike-time inputs). Default for the bsshslm scheme: one update interval.
    shuffle : bool
        Shuffle a sequence data set each epoch (permutation from ``seed`` and the epoch number, so
        that a resumed run draws the same samples).
    seed : int, optional
        Seed of the shuffling.
    eval_every : int, optional
        Evaluate ``test_set`` every this many iterations and after the last one.
    test_set : sequence of samples, optional
        Evaluated with :func:`evaluate` (``learn=False``).
    eval_isolated : bool
        Passed to :func:`evaluate` as ``isolated``: by default evaluating does not change training.
    progress : bool or callable
        ``True``: one line to stderr every ``progress_every`` iterations (loss, accuracy, test error,
        elapsed time, ETA). A callable is called with a dict of the same fields instead.
    progress_every : int, optional
        Default: ``iterations // 20`` (at least 1), or 10 when the length is unknown.
    callback : callable, optional
        ``callback(iteration, history, net)`` after every iteration (after evaluation and checkpoint);
        returning ``False`` stops training (early stopping).
    checkpoint_every : int, optional
        Save a checkpoint (with the history) every this many iterations and after the last one.
    checkpoint_path : str, optional
        Where; ``"{iteration}"`` in it is replaced by the iteration number (else the file is overwritten).
    history : History, optional
        Continue this history (e.g. from :func:`restore_checkpoint`): iteration numbers, elapsed time
        and the position in a sequence data set go on from it.

    Returns
    -------
    History

    Raises
    ------
    NetworkError, ParameterError
        Bad samples (the message names the sample and the array) or arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout, GradientDescent
    >>> rng = np.random.default_rng(0)
    >>> net = EpropNetwork(5, EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0),
    ...                    EpropReadout(C_m=1.0, tau_m=30.0), rng.normal(0, 0.03, (8, 5)), np.zeros((8, 8)),
    ...                    rng.normal(0, 0.03, (1, 8)), rng.normal(0, 1, (8, 1)), optimizer=GradientDescent(eta=1e-3))
    >>> x = rng.random((50, 5)) < 0.2
    >>> y = np.sin(np.linspace(0, 2 * np.pi, 50))
    >>> h = train(net, [(x, y)], iterations=3, progress=False)
    >>> len(h), h.iteration, h.accuracy, all(loss > 0 for loss in h.loss)   # regression: no accuracy
    (3, [1, 2, 3], [None, None, None], True)
    """
    user_net = net
    net, ep = _runner(net, "train")
    if eval_every is not None and eval_isolated and net is not ep:
        raise ParameterError("train: a block inside a Network cannot be evaluated in isolation (the Network's "
                             "event-driven state cannot be set aside); pass eval_isolated=False")
    batch_size = _pos_int("batch_size", batch_size)
    for nm, val in (("iterations", iterations), ("eval_every", eval_every), ("progress_every", progress_every),
                    ("checkpoint_every", checkpoint_every), ("sequence_steps", sequence_steps)):
        if val is not None:
            _pos_int(nm, val)
    if checkpoint_every is not None and checkpoint_path is None:
        raise ParameterError("train: checkpoint_every needs checkpoint_path")
    if eval_every is not None and test_set is None:
        raise ParameterError("train: eval_every needs test_set")
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise ParameterError("train: progress must be True/False or a callable")
    if callback is not None and not callable(callback):
        raise ParameterError("train: callback must be callable")
    history = History() if history is None else history
    start = len(history)
    t_offset = history.elapsed[-1] if history.elapsed and history.elapsed[-1] is not None else 0.0

    is_seq = isinstance(data, Sequence) or (hasattr(data, "__len__") and hasattr(data, "__getitem__")
                                            and not isinstance(data, (Iterator, Mapping)))
    if is_seq:
        n_data = len(data)
        if n_data == 0:
            raise NetworkError("train: the data set is empty")
        if iterations is None:
            iterations = -(-n_data // batch_size)
        perm_cache = {}

        def sample_at(pos):
            epoch, k = divmod(pos, n_data)
            if shuffle:
                if epoch not in perm_cache:
                    perm_cache.clear()
                    perm_cache[epoch] = np.random.default_rng([0 if seed is None else int(seed), epoch]).permutation(
                        n_data)
                k = int(perm_cache[epoch][k])
            return k, data[k]
    else:
        if not isinstance(data, Iterable):
            raise NetworkError(f"train: data must be a sequence or an iterable of samples (got {type(data).__name__})")
        stream = iter(data)
    history.meta.setdefault("batch_size", batch_size)
    every = progress_every or (max(1, iterations // 20) if iterations is not None else 10)
    t_start = time.perf_counter()
    done = 0
    it = start
    while iterations is None or done < iterations:
        losses, correct = [], []
        exhausted = False
        for b in range(batch_size):
            if is_seq:
                k, sample = sample_at(it * batch_size + b)
                where = f"train: sample {k}"
            else:
                try:
                    sample = next(stream)
                except StopIteration:
                    exhausted = True
                    break
                where = f"train: sample {it * batch_size + b}"
            s = _prepare(net, sample, where, learning_window, sequence_steps)
            loss, ok = _run_sample(net, s, True, where)
            losses.append(loss)
            if ok is not None:
                correct.append(ok)
        if not losses:
            break
        it += 1
        done += 1
        elapsed = time.perf_counter() - t_start
        history.add(it, float(np.mean(losses)), float(np.mean(correct)) if correct else None, t_offset + elapsed)
        last = exhausted or (iterations is not None and done == iterations)
        tested = None
        if eval_every is not None and (done % eval_every == 0 or last):
            tested = evaluate(net, test_set, learning_window=learning_window, sequence_steps=sequence_steps,
                              isolated=eval_isolated)
            history.add_test(it, tested["loss"], tested["accuracy"])
        if checkpoint_every is not None and (done % checkpoint_every == 0 or last):
            save_checkpoint(ep, str(checkpoint_path).replace("{iteration}", str(it)), history=history)
        if done == 1:
            t_first = time.perf_counter()  # the first iteration includes compilation: leave it out of the ETA
        if progress and (done % every == 0 or last or done == 1):
            eta = None
            if iterations is not None:
                now = time.perf_counter()
                rate = (now - t_start) / done if done == 1 else (now - t_first) / (done - 1)
                eta = rate * (iterations - done)
            info = {"iteration": it, "iterations": None if iterations is None else start + iterations,
                    "loss": history.loss[-1], "accuracy": history.accuracy[-1],
                    "test_loss": None if tested is None else tested["loss"],
                    "test_error": None if tested is None else tested["error"],
                    "elapsed": t_offset + elapsed, "eta": eta}
            if callable(progress) and not isinstance(progress, bool):
                progress(info)
            else:
                _print_progress(info)
        if callback is not None and callback(it, history, user_net) is False:
            break
        if exhausted:
            break
    return history


def _pos_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ParameterError(f"train: {name} must be an integer >= 1 (got {v!r})")
    return int(v)


# ================================================================================================ state
def _state_names(net):
    names = list(_CORE)
    for k, v in net.__dict__.items():
        if k.startswith("_") and k not in _DERIVED and k not in names and not callable(v):
            names.append(k)
    return names


def _snapshot(net):
    names = _state_names(net)
    return {"attrs": copy.deepcopy({k: net.__dict__[k] for k in names if k in net.__dict__}),
            "optimizer": copy.deepcopy(net.optimizer)}


def _restore(net, snap):
    for k, v in copy.deepcopy(snap["attrs"]).items():
        setattr(net, k, v)
    net.optimizer = copy.deepcopy(snap["optimizer"])


def network_config(net):
    """The constructor configuration of ``net`` as a JSON-serialisable dict (weights excluded).

    Examples
    --------
    >>> import numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
    >>> net = EpropNetwork(1, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 1)), np.zeros((2, 2)),
    ...                    np.zeros((1, 2)), np.zeros((2, 1)))
    >>> cfg = network_config(net)
    >>> cfg["scheme"], cfg["rec"][0]["model"], cfg["rec"][0]["n"], cfg["optimizer"]["type"]
    ('event', 'EpropIAF', 2, 'gradient_descent')
    """
    cfg = {
        "n_in": net.n_in,
        "rec": [{"model": type(m).__name__, "n": int(n), "params": dict(m.params)} for m, n in net.groups],
        "readout": dict(net.readout_model.params),
        "optimizer": net.optimizer.to_nest(),
        "scheme": net.scheme, "loss": net.loss, "feedback": net.feedback, "dt": net.dt,
        "reset_neurons_on_update": net.reset_neurons_on_update, "average_gradient": net.average_gradient,
        "n_rec": net.n_rec, "n_out": net.n_out,
    }
    if net.scheme == "bsshslm_2020":
        cfg["update_interval"] = net.update_steps * net.dt
        cfg["learning_window"] = net.window_steps * net.dt
        cfg["tau_m_readout"] = net.tau_m_readout
    return cfg


def _network_from_config(cfg, weights):
    rec = []
    for g in cfg["rec"]:
        if g["model"] not in _MODELS:
            raise InputFormatError(f"checkpoint: unknown recurrent model {g['model']!r}")
        rec.append((_MODELS[g["model"]](**g["params"]), g["n"]))
    kw = {}
    if cfg["scheme"] == "bsshslm_2020":
        kw = {"update_interval": cfg["update_interval"], "learning_window": cfg["learning_window"],
              "tau_m_readout": cfg["tau_m_readout"]}
    opt = make_optimizer(dict(cfg["optimizer"]))
    # the weights of a checkpoint lie inside [Wmin, Wmax] (the optimizer clips them)
    return EpropNetwork(cfg["n_in"], rec, EpropReadout(**cfg["readout"]), weights["W_in"], weights["W_rec"],
                        weights["W_out"], None if cfg["feedback"] == "symmetric" else weights["B"], optimizer=opt,
                        scheme=cfg["scheme"], loss=cfg["loss"], feedback=cfg["feedback"], dt=cfg["dt"],
                        reset_neurons_on_update=cfg["reset_neurons_on_update"],
                        average_gradient=cfg["average_gradient"], **kw)


# ---- a lossless encoding of nested state (dicts, lists, tuples, arrays, numpy and Python scalars)
def _encode(obj, arrays, where):
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return {"__list_array__": [_encode(x, arrays, where) for x in obj.tolist()], "shape": list(obj.shape)}
        key = f"arr{len(arrays)}"
        arrays[key] = obj
        return {"__nd__": key}
    if isinstance(obj, np.generic):
        return {"__np__": obj.dtype.str, "v": obj.item()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(x, arrays, where) for x in obj]}
    if isinstance(obj, list):
        return [_encode(x, arrays, where) for x in obj]
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays, where), _encode(v, arrays, where)] for k, v in obj.items()]}
    raise TypeError(f"{where}: cannot store a {type(obj).__name__} in a checkpoint")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(x, arrays) for x in obj]
    if isinstance(obj, dict):
        if "__nd__" in obj:
            return arrays[obj["__nd__"]]
        if "__np__" in obj:
            return np.dtype(obj["__np__"]).type(obj["v"])
        if "__tuple__" in obj:
            return tuple(_decode(x, arrays) for x in obj["__tuple__"])
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__list_array__" in obj:
            a = np.empty(len(obj["__list_array__"]), dtype=object)
            a[:] = [_decode(x, arrays) for x in obj["__list_array__"]]
            return a.reshape(obj["shape"])
    return obj


def save_checkpoint(net, path, *, history=None, extra=None):
    """Write everything needed to continue training ``net`` bit-identically to ``path`` (.npz), atomically.

    The file holds the weight matrices, every array and scalar of the network's state (neurons,
    readouts, eligibility traces, histories, per-synapse optimizer states, time), the optimizer and the
    constructor configuration (:func:`network_config`), a format version and, optionally, a
    :class:`History` and a JSON-serialisable ``extra`` dict. It is written to a temporary file in the
    same folder and renamed over ``path``, so an error never leaves a partial file. Plain ``.npz``:
    ``numpy.load(path)`` reads it without pickles.

    Parameters
    ----------
    net : EpropNetwork
    path : str or path-like
    history : History, optional
    extra : dict, optional

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
    >>> net = EpropNetwork(1, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 1)), np.zeros((2, 2)),
    ...                    np.full((1, 2), 0.5), np.zeros((2, 1)))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> save_checkpoint(net, path, extra={"note": "demo"})
    >>> ck = load_checkpoint(path)
    >>> ck["version"], ck["extra"], ck["state"]["W_out"].tolist()
    (1, {'note': 'demo'}, [[0.5, 0.5]])
    """
    if not isinstance(net, EpropNetwork):
        raise ParameterError(f"save_checkpoint: net must be an EpropNetwork (got {type(net).__name__})")
    arrays = {}
    state = {}
    skipped = []
    for name in _state_names(net):
        if name not in net.__dict__:
            continue
        try:
            state[name] = _encode(net.__dict__[name], arrays, f"save_checkpoint: net.{name}")
        except TypeError:
            if name in _CORE:
                raise
            skipped.append(name)
    meta = {"magic": _MAGIC, "version": CHECKPOINT_VERSION, "config": network_config(net), "state": state,
            "skipped": skipped, "history": None if history is None else history.to_dict(),
            "extra": extra}
    try:
        meta_text = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"save_checkpoint: extra / history are not JSON-serialisable ({exc})") from None
    payload = {"__meta__": np.array(meta_text)}
    payload.update(arrays)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)

    atomic_write(path, write)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    dict
        ``version``, ``config`` (:func:`network_config`), ``state`` (attribute name -> value: the
        weights ``W_in``, ``W_rec``, ``W_out``, ``B`` and the private state ``_state``, ``_syn``,
        ``_hist``, ...), ``history`` (:class:`History` or ``None``), ``extra``.

    Raises
    ------
    InputFormatError
        Not a checkpoint, or a newer format version.

    Examples
    --------
    See :func:`save_checkpoint`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFormatError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z.files:
                raise InputFormatError(f"{path}: not an e-prop checkpoint (no __meta__ entry)")
            meta = json.loads(str(z["__meta__"][()]))
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except InputFormatError:
        raise
    except (OSError, ValueError) as exc:
        raise InputFormatError(f"{path}: not a readable checkpoint ({exc})") from None
    if meta.get("magic") != _MAGIC:
        raise InputFormatError(f"{path}: not an e-prop checkpoint")
    if not isinstance(meta.get("version"), int) or meta["version"] > CHECKPOINT_VERSION:
        raise InputFormatError(f"{path}: checkpoint format version {meta.get('version')!r} is newer than this "
                               f"spikeengine reads ({CHECKPOINT_VERSION})")
    state = {k: _decode(v, arrays) for k, v in meta["state"].items()}
    return {"version": meta["version"], "config": meta["config"], "state": state,
            "history": None if meta.get("history") is None else History.from_dict(meta["history"]),
            "extra": meta.get("extra"), "skipped": meta.get("skipped", [])}


def restore_checkpoint(net, path):
    """Load a checkpoint into an existing network built with the same configuration.

    Sets the weights, the whole state and the optimizer of ``net``; returns what
    :func:`load_checkpoint` returns (so ``restore_checkpoint(net, p)["history"]`` can be handed to
    ``train(..., history=...)``).

    Raises
    ------
    NetworkError
        The checkpoint's configuration (sizes, scheme, loss, feedback, dt, models) differs from ``net``'s.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
    >>> def make():
    ...     return EpropNetwork(1, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 1)), np.zeros((2, 2)),
    ...                         np.zeros((1, 2)), np.zeros((2, 1)))
    >>> a, b = make(), make()
    >>> a.W_out[:] = 0.25; a.run([[0.0]], n_steps=3)
    EpropResult(steps=3, loss=0, spikes=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz"); save_checkpoint(a, path)
    >>> _ = restore_checkpoint(b, path)
    >>> b.t, b.W_out.tolist()
    (3, [[0.25, 0.25]])
    """
    ck = load_checkpoint(path)
    mine = network_config(net)
    theirs = ck["config"]
    for key in ("n_in", "n_rec", "n_out", "scheme", "loss", "feedback", "dt", "rec", "readout",
                "update_interval", "learning_window", "tau_m_readout", "reset_neurons_on_update",
                "average_gradient"):
        if _json_norm(mine.get(key)) != _json_norm(theirs.get(key)):
            raise NetworkError(f"restore_checkpoint: {os.fspath(path)} was saved from a network with {key} = "
                               f"{theirs.get(key)!r}; this network has {key} = {mine.get(key)!r}")
    for k, v in ck["state"].items():
        setattr(net, k, v)
    net.optimizer = make_optimizer(dict(theirs["optimizer"]))
    return ck


def _json_norm(x):
    return json.loads(json.dumps(x))


def load_network(path):
    """Build a new :class:`EpropNetwork` from a checkpoint and restore its state into it.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
    >>> net = EpropNetwork(1, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 1)), np.zeros((2, 2)),
    ...                    np.full((1, 2), 0.5), np.zeros((2, 1)))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz"); save_checkpoint(net, path)
    >>> load_network(path).W_out.tolist()
    [[0.5, 0.5]]
    """
    ck = load_checkpoint(path)
    net = _network_from_config(ck["config"], ck["state"])
    restore_checkpoint(net, path)
    return net


# ================================================================================================ SHD
class ShdDataset:
    """Spiking Heidelberg Digits (SHD/SSC HDF5 layout) as e-prop samples ``(raster, label)``.

    The layout: ``spikes/times`` (per sample, seconds), ``spikes/units`` (per sample, unit indices),
    ``labels`` (per sample). Samples are read on demand with h5py (imported here; a clear
    ``ImportError`` without it) and binned to the ``dt`` grid: ``step = floor(t * 1000 / dt)``, several
    spikes of a channel in one step count once, spikes at or after ``n_steps`` are dropped. Units can be
    pooled into ``n_channels`` channels (``channel = unit * n_channels // n_units``).

    Parameters
    ----------
    path : str or path-like
    n_steps : int
        Steps per sample (1000 at dt = 1 ms: the first second; SHD digits last up to ~1.4 s).
    dt : float
        Step in ms.
    n_channels : int, optional
        Input channels after pooling; default ``n_units`` (no pooling).
    n_units : int
        Units of the cochlea model (700 for SHD/SSC).
    indices : sequence of int, optional
        Use only these samples (in this order).

    Attributes
    ----------
    labels : ndarray of int
        Labels of the selected samples.
    n_classes : int
        ``max(label) + 1`` over the whole file (20 for SHD).

    Examples
    --------
    >>> import os, tempfile
    >>> import h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny_shd.h5")
    >>> with h5py.File(path, "w") as f:
    ...     vf, vu = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
    ...     t = f.create_dataset("spikes/times", (1,), dtype=vf); u = f.create_dataset("spikes/units", (1,), dtype=vu)
    ...     t[0], u[0] = np.array([0.0011, 0.0012, 0.0035], np.float32), np.array([3, 3, 699], np.uint16)
    ...     _ = f.create_dataset("labels", data=np.array([7], np.uint16))
    >>> with ShdDataset(path, n_steps=5, n_channels=70) as ds:
    ...     raster, label = ds[0]
    ...     print(len(ds), raster.shape, label, np.argwhere(raster).tolist())
    1 (5, 70) 7 [[1, 0], [3, 69]]
    """

    def __init__(self, path, *, n_steps=1000, dt=1.0, n_channels=None, n_units=700, indices=None):
        from ..io.audio import ShdFile  # the file layout and its checks; h5py imported there

        self.path = os.fspath(path)
        self.n_steps = _pos_int("n_steps", n_steps)
        self.dt = float(dt)
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ParameterError(f"ShdDataset: dt must be positive (got {dt!r})")
        self.n_units = _pos_int("n_units", n_units)
        self.n_channels = self.n_units if n_channels is None else _pos_int("n_channels", n_channels)
        if self.n_channels > self.n_units:
            raise ParameterError(f"ShdDataset: n_channels = {self.n_channels} exceeds n_units = {self.n_units}")
        self._shd = ShdFile(self.path, units=self.n_units)
        try:
            n = len(self._shd)
            if self._shd.labels is None:
                raise InputFormatError(f"{self.path}: missing dataset 'labels' (SHD layout: spikes/times, "
                                       "spikes/units, labels)")
            all_labels = self._shd.labels.astype(np.int64).reshape(-1)
            self.n_classes = int(all_labels.max()) + 1 if n else 0
            self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
            bad = (self.indices < 0) | (self.indices >= n)
            if bad.any():
                raise ParameterError(f"ShdDataset: index {int(self.indices[bad][0])} is outside [0, {n})")
            self.labels = all_labels[self.indices]
        except Exception:
            self._shd.close()
            raise

    def __len__(self):
        return int(self.indices.size)

    def spikes(self, i):
        """Raw ``(times_s, units)`` of sample ``i`` (of the selection) as stored."""
        ts, us = self._shd.arrays(int(self.indices[i]))
        return ts.astype(np.float64), us.astype(np.int64)

    def __getitem__(self, i):
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"ShdDataset indices must be integers, got {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"ShdDataset: sample {i} out of range for {len(self)} samples")
        i = int(i) % len(self)
        ts, us = self.spikes(i)
        where = f"{self.path}: sample {int(self.indices[i])}"
        if ts.shape != us.shape:
            raise InputFormatError(f"{where}: {ts.size} times but {us.size} units")
        if ts.size and (not np.isfinite(ts).all() or ts.min() < 0):
            raise InputFormatError(f"{where}: spike times must be finite and >= 0")
        if us.size and (us.min() < 0 or us.max() >= self.n_units):
            raise InputFormatError(f"{where}: unit {int(us.max() if us.max() >= self.n_units else us.min())} is "
                                   f"outside [0, {self.n_units})")
        steps = np.floor(ts * 1000.0 / self.dt + 1e-9).astype(np.int64)
        keep = steps < self.n_steps
        raster = np.zeros((self.n_steps, self.n_channels), dtype=bool)
        raster[steps[keep], us[keep] * self.n_channels // self.n_units] = True
        return raster, int(self.labels[i])

    def close(self):
        """Close the HDF5 file."""
        self._shd.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
