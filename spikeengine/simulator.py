"""Compile a :class:`~spikeengine.network.Network` into flat arrays and drive the kernel.

Connectivity is stored as CSR grouped by source, then delay: for global neuron
``i``, groups ``g_ptr[i]:g_ptr[i+1]`` each hold one distinct delay ``g_delay[g]``
and the synapses ``g_syn[g]:g_syn[g+1]`` (``syn_tgt`` int32, ``syn_w`` float64),
i.e. 12 bytes per synapse plus 20 bytes per (source, delay) group.
"""

import math
import time

import numpy as np

from . import dtypes as dt
from ._backend import get_backend
from .errors import NetworkError

_INF = math.inf
_MAX_BIN_CELLS = 1 << 22  # activity counts held per kernel call (32 MiB); longer runs are cut into chunks
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(x):
    """splitmix64 finaliser on a uint64 array (vectorised; seeds the per-neuron streams)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def aligned_zeros(shape, align=64):
    """Zero float64 array whose data start on an ``align``-byte boundary (rows of 64 bytes = cache lines)."""
    n = int(np.prod(shape))
    buf = np.zeros(n + align // 8, dtype=np.float64)
    off = (-buf.ctypes.data % align) // 8
    return buf[off:off + n].reshape(shape)


def stream_states(seed, stream, n):
    """Initial states of ``n`` independent random streams keyed by (seed, stream, index)."""
    base = np.random.SeedSequence([seed, 7, stream]).generate_state(2, np.uint64)
    with np.errstate(over="ignore"):
        idx = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + base[1]
        return _mix64(_mix64(idx) ^ base[0])


def warm_up(backend=None):
    """Run a two-neuron network once so that a JIT backend compiles its kernels; returns the seconds taken.

    Examples
    --------
    >>> warm_up("python") >= 0.0
    True
    """
    from .models import LIF
    from .network import Network

    t0 = time.perf_counter()
    net = Network(backend=backend)
    cells = net.population(2, LIF(I_e=400.0))
    net.connect(cells, cells, weight=1.0, delay=1.0)
    net.run(1.0)
    return time.perf_counter() - t0


class Simulator:
    """Owns the compiled arrays, the state, the event heap and the recordings of a network."""

    def __init__(self, net):
        self.net = net
        self.backend = get_backend(net.backend_name)
        self._compile()
        self.reset()

    # ------------------------------------------------------------ compile
    def _compile(self):
        net = self.net
        n = net.size
        self.n = n
        kinds = np.zeros(n, dtype=np.int64)
        P = aligned_zeros((n, dt.NP))
        P[:, dt.P_TAU_A] = 1.0
        P[:, dt.P_TAU_EX] = 1.0
        P[:, dt.P_TAU_IN] = 1.0
        P[:, dt.P_TAU_M] = 1.0
        S0 = np.zeros((n, dt.NS))
        S0[:, dt.S_REF] = -_INF
        S0[:, dt.S_X] = 1.0
        src_t, src_id, psrc = [], [], []
        for pop in net.populations:
            rows = np.arange(pop.first, pop.first + pop.size)
            if pop.source is None:
                kinds[rows] = pop.model.kind
                pop.model.fill(P, S0, rows, f"population {pop.name!r}")
            elif pop.source[0] == "stream":
                kinds[rows] = dt.KIND_SOURCE  # spikes arrive at run time (Simulator.inject)
            elif pop.source[0] == "array":
                kinds[rows] = dt.KIND_SOURCE
                for i, tr in enumerate(pop.source[1]):
                    src_t.append(tr)
                    src_id.append(np.full(tr.size, pop.first + i, dtype=np.int64))
            else:
                kinds[rows] = dt.KIND_POISSON
                rates = pop.source[1] / 1000.0
                P[rows, dt.P_RATE] = rates
                S0[rows, dt.S_T] = -1.0
                psrc.append(rows[rates > 0])
        self.kinds = kinds
        self.P = P
        self.S0 = S0
        if src_t:
            t = np.concatenate(src_t)
            i = np.concatenate(src_id)
            order = np.lexsort((i, t))
            self.src_t, self.src_id = t[order], i[order]
        else:
            self.src_t, self.src_id = np.empty(0), np.empty(0, np.int64)
        self.psrc = np.concatenate(psrc).astype(np.int64) if psrc else np.empty(0, np.int64)
        self._src0 = (self.src_t, self.src_id)

        # Poisson drives (per neuron, lazily generated)
        d_owner, d_rate, d_w, d_dt = [], [], [], []
        for pop in net.populations:
            for rate, w, step in pop.poisson_inputs:
                keep = rate > 0
                d_owner.append(np.arange(pop.first, pop.first + pop.size)[keep])
                d_rate.append(rate[keep] / 1000.0)
                d_w.append(w[keep])
                d_dt.append(np.full(int(keep.sum()), step))
        if d_owner:
            owner = np.concatenate(d_owner)
            order = np.argsort(owner, kind="stable")
            owner = owner[order]
            self.d_rate = np.concatenate(d_rate)[order]
            self.d_w = np.concatenate(d_w)[order]
            self.d_dt = np.concatenate(d_dt)[order]
        else:
            owner = np.empty(0, np.int64)
            self.d_rate = np.empty(0)
            self.d_w = np.empty(0)
            self.d_dt = np.empty(0)
        self.d_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(owner, minlength=n), out=self.d_ptr[1:])
        S0[:, dt.S_TK] = np.where(np.diff(self.d_ptr) > 0, -1.0, _INF)  # -1: first kick not drawn yet

        # projections onto clocked populations are delivered by the clocked domains (spikeengine.clocked)
        self._kprojs = [p for p in net.projections if not getattr(p.post.model, "clocked", False)]
        self._compile_synapses()
        self.cosim = None
        if any(getattr(p.model, "clocked", False) for p in net.populations):
            from .clocked import CoSim

            if self.btsp:
                raise NetworkError("BTSP projections and clocked populations cannot share a network yet")
            self.cosim = CoSim(self)

        # neurons that can reach threshold between inputs are advanced at every window end
        spiking = np.isin(kinds, (dt.KIND_LIF, dt.KIND_LIF_EXP, dt.KIND_IF)) & (P[:, dt.P_V_TH] < _INF)
        drift = (kinds == dt.KIND_LIF_EXP) | (P[:, dt.P_BETA] > 0)
        drift |= (kinds == dt.KIND_LIF) & (P[:, dt.P_V_INF] > P[:, dt.P_V_TH])
        drift |= (kinds == dt.KIND_IF) & (P[:, dt.P_SLOPE] > 0)
        drift |= np.diff(self.d_ptr) > 0
        self.flush = np.flatnonzero(spiking & drift).astype(np.int64)

        # the window: minimum delay of projections leaving neurons whose spikes are not known in advance
        dyn = ~np.isin(kinds[self.g_src], (dt.KIND_SOURCE, dt.KIND_POISSON)) if self.g_src.size else np.zeros(0, bool)
        self.window = float(self.g_delay[dyn].min()) if dyn.any() else _INF
        if self.window < 1e-9:
            raise NetworkError(f"the minimum delay between spiking neurons, {self.window!r} ms, is below the 1e-9 ms "
                               "the engine resolves; use delays >= 1e-9 ms")

    def _compile_synapses(self):
        """CSR by source, then delay, filled projection by projection into preallocated compact arrays.

        Sources and targets are int32 while sorting, and delays are only sorted when they differ,
        so the build needs about 30 bytes per synapse on top of the projections' own arrays.
        """
        projs = self._kprojs
        n = self.n
        if n >= 2**31:
            raise NetworkError(f"{n} neurons exceed the int32 target index of this build")
        m = sum(len(p) for p in projs)
        src = np.empty(m, np.int32)
        tgt = np.empty(m, np.int32)
        w = np.empty(m, np.float64)
        d = np.empty(m, np.float64)
        k = 0
        for p in projs:
            e = k + len(p)
            for what, idx, size in (("sources", p.sources, p.pre.size), ("targets", p.targets, p.post.size)):
                if len(idx) and (idx.min() < 0 or idx.max() >= size):
                    raise NetworkError(f"projection {p.name!r}: {what} were changed after connect() and now leave "
                                       f"[0, {size})")
            np.add(p.sources, p.pre.first, out=src[k:e], casting="unsafe")
            np.add(p.targets, p.post.first, out=tgt[k:e], casting="unsafe")
            w[k:e] = p.weights
            d[k:e] = p.delays
            k = e
        uniform = m == 0 or bool(np.all(d == d[0]))
        # plastic projections: their synapses form delay groups of their own (one rule per group)
        from .plasticity import PlasticityRule

        plastic = [q for q, p in enumerate(projs) if isinstance(p.plasticity, PlasticityRule)]
        btsp = [q for q, p in enumerate(projs) if p.plasticity is not None and q not in plastic]
        rid = None
        if plastic:
            rid = np.full(m, -1, np.int32)
            k = 0
            for q, p in enumerate(projs):
                if p.plasticity is not None:
                    rid[k:k + len(p)] = plastic.index(q)
                k += len(p)
        if rid is not None:
            order = np.lexsort((rid, d, src))
        else:
            order = np.argsort(src, kind="stable") if uniform else np.lexsort((d, src))
        src = src[order]
        self.syn_tgt = tgt[order]
        del tgt
        self.syn_w = w[order]
        del w
        if m:
            new = np.ones(m, dtype=bool)
            new[1:] = src[1:] != src[:-1]
            if not uniform:
                d = d[order]
                new[1:] |= d[1:] != d[:-1]
            if rid is not None:
                rid = rid[order]
                new[1:] |= rid[1:] != rid[:-1]
            starts = np.flatnonzero(new)
        else:
            starts = np.empty(0, np.int64)
        pos = None
        if plastic or btsp:
            pos = np.empty(m, np.int64)
            pos[order] = np.arange(m)
        del order
        self.g_src = src[starts]
        if uniform:
            self.g_delay = np.full(starts.size, d[0] if m else 0.0)
        else:
            self.g_delay = d[starts]
        self.g_syn = np.append(starts, m).astype(np.int64)
        self.g_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(self.g_src, minlength=n), out=self.g_ptr[1:])
        self.n_synapses = m
        self._compile_plasticity(plastic, rid, starts, pos, btsp)

    def _compile_plasticity(self, plastic, rid, starts, pos, btsp=()):
        """Rule table, per-group traces, postsynaptic spike histories and the synapse index maps."""
        projs = self._kprojs
        n, m = self.n, self.n_synapses
        self.plastic = [projs[q] for q in plastic]
        self.btsp = [projs[q] for q in btsp]  # rules applied between kernel calls (spikeengine.btsp)
        self._csr = {}  # id(projection) -> CSR position of each of its synapses
        if btsp:
            offs = np.cumsum([0] + [len(p) for p in projs])
            idx = np.int32 if m < 2**31 else np.int64
            for q in btsp:
                self._csr[id(projs[q])] = pos[offs[q]:offs[q + 1]].astype(idx)
        if not plastic:
            self.g_rule = np.empty(0, np.int64)
            self.R = np.zeros((0, dt.NR))
            self.hrow = np.empty(0, np.int64)
            self.in_ptr = np.zeros(1, np.int64)
            self.in_grp = np.empty(0, np.int64)
            self._has_pre_centred = False
            self.dh_t, self.dh_m, self.dh_n = np.zeros((0, 1)), np.zeros((0, 1)), np.empty(0, np.int64)
            self.n_hist_rows = 0
            return
        self.g_rule = rid[starts].astype(np.int64)
        self.R = np.stack([p.plasticity.row() for p in self.plastic])
        k = 0
        offsets = {}
        for p in projs:
            offsets[id(p)] = k
            k += len(p)
        idx = np.int32 if m < 2**31 else np.int64
        for p in self.plastic:
            a = offsets[id(p)]
            self._csr[id(p)] = pos[a:a + len(p)].astype(idx)
        # postsynaptic trace time constants live with the post neuron (NEST); one value per population
        self.P[:, dt.P_TMINV] = 1.0 / 20.0
        self.P[:, dt.P_TTINV] = 1.0 / 110.0
        taus = {}
        for p in self.plastic:
            tm, tt = p.plasticity.post_taus()
            prev = taus.setdefault(p.post.name, (tm, tt, p.name))
            if prev[:2] != (tm, tt):
                raise NetworkError(f"projections {prev[2]!r} and {p.name!r} onto population {p.post.name!r} use "
                                   f"different postsynaptic time constants (tau_minus, tau_minus_triplet) "
                                   f"{prev[:2]} and {(tm, tt)}; in NEST these are parameters of the post neuron, "
                                   "so they must agree")
            rows = slice(p.post.first, p.post.first + p.post.size)
            self.P[rows, dt.P_TMINV] = 1.0 / tm
            self.P[rows, dt.P_TTINV] = 1.0 / tt
        # history rows: neurons that receive plastic synapses
        plastic_k = np.concatenate([self._csr[id(p)] for p in self.plastic])
        tg = self.syn_tgt[plastic_k].astype(np.int64)
        posts = np.flatnonzero(np.bincount(tg, minlength=n))
        self.hrow = np.full(n, -1, np.int64)
        self.hrow[posts] = np.arange(posts.size)
        self.n_hist_rows = posts.size
        # incoming plastic groups per history row (for pruning), one entry per (row, group)
        grp_of = np.searchsorted(self.g_syn, plastic_k, side="right") - 1
        key = self.hrow[tg] * np.int64(starts.size) + grp_of
        key.sort()  # (np.unique hashes int64 keys: several times slower than sorting them)
        key = key[np.concatenate(([True], key[1:] != key[:-1]))] if key.size else key
        rows = key // starts.size
        self.in_grp = (key % starts.size).astype(np.int64)
        self.in_ptr = np.zeros(posts.size + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=posts.size), out=self.in_ptr[1:])
        self._has_pre_centred = any(p.plasticity.rule_type in (dt.RULE_NN_PRE, dt.RULE_DOPA) for p in self.plastic)
        # dopamine: one arrival row per distinct (dopamine population, delay), a sentinel at t = 0 first
        vts = {}
        for r, p in enumerate(self.plastic):
            rule = p.plasticity
            if rule.rule_type == dt.RULE_DOPA:
                key = (id(rule.dopamine), rule.dopamine_delay)
                if key not in vts:
                    vts[key] = (len(vts), rule.arrivals())
                self.R[r, dt.R_VT] = vts[key][0]
        L = 1 + max((a[0].size for _, a in vts.values()), default=0)
        self.dh_t = np.full((len(vts), L), np.inf)
        self.dh_m = np.zeros((len(vts), L))
        self.dh_n = np.ones(len(vts), np.int64)
        for v, (t, m) in vts.values():
            self.dh_t[v, 0] = 0.0
            self.dh_t[v, 1:1 + t.size] = t
            self.dh_m[v, 1:1 + t.size] = m
            self.dh_n[v] = 1 + t.size

    def _initial_plastic_state(self, keep_weights):
        """Traces, histories and (unless kept) weights of the plastic projections at t = 0."""
        ng = self.g_src.size
        if not self.plastic:
            self.gst = np.zeros((0, dt.NG))
            self.syn_kp = np.empty(0)
            self.hist = np.zeros((0, 1, dt.NH))
            self.hinfo = np.zeros((0, 2), np.int64)
            self.w_t, self.w_k, self.w_w = np.empty(0), np.empty(0, np.int64), np.empty(0)
            return
        self.gst = np.zeros((ng, dt.NG))
        self.syn_kp = np.zeros(self.n_synapses if self._has_pre_centred else 0)
        for r, p in enumerate(self.plastic):
            grp = self.g_rule == r
            self.gst[grp, dt.G_KP] = p.plasticity.Kplus
            self.gst[grp, dt.G_R2] = getattr(p.plasticity, "Kplus_triplet", 0.0)
            self.R[r, dt.R_REC] = 1.0 if (p._wrec is not None and p._wrec["mode"] == "events") else 0.0
            if p.plasticity.rule_type == dt.RULE_NN_PRE:
                self.syn_kp[self._csr[id(p)]] = p.plasticity.Kplus
            if p.plasticity.rule_type == dt.RULE_DOPA:  # per-synapse eligibility trace c, group dopamine trace n
                self.syn_kp[self._csr[id(p)]] = p.plasticity.c
                self.gst[grp, dt.G_N] = p.plasticity.n
                self.gst[grp, dt.G_DIDX] = 0.0
            if not keep_weights:
                self.syn_w[self._csr[id(p)]] = p._weights
        self.hist = np.zeros((self.n_hist_rows, 16, dt.NH))
        self.hinfo = np.zeros((self.n_hist_rows, 2), np.int64)
        self.w_t, self.w_k, self.w_w = np.empty(256), np.empty(256, np.int64), np.empty(256)

    # ---------------------------------------------------------------- state
    def reset(self, keep_weights=False):
        """Initial state, empty heap and recordings, t = 0 (plastic weights too, unless ``keep_weights``)."""
        net = self.net
        self._initial_plastic_state(keep_weights)
        self._w_events = {id(p): [] for p in self.plastic}
        self._w_samples = {id(p): ([], []) for p in self.plastic}
        self.t = 0.0
        self._incl = None  # the last kernel call processed the events at this time (inclusive chunk end)
        self.wall_time = 0.0  # seconds spent in the kernel since the last reset
        self.src_t, self.src_id = self._src0
        self.late_dropped = 0  # streamed spikes dropped for arriving after their time (late="drop")
        self.S = aligned_zeros(self.S0.shape)
        self.S[:] = self.S0
        self.nspk = np.zeros(self.n, np.int64)
        self.rng = stream_states(net.seed, 1, self.n)
        self.d_rng = stream_states(net.seed, 2, self.d_rate.size)
        self.d_next = np.full(self.d_rate.size, -1.0)
        self.h_t = np.empty(1024)
        self.h_g = np.empty(1024, np.int64)
        self.o_t = np.empty(4096)
        self.o_i = np.empty(4096, np.int64)
        self.ctr = np.zeros(dt.NCTR, np.int64)
        # energy counters (docs/energy.md): zero-length arrays and bin width 0 switch them off in the kernel
        on = net.counters_enabled
        self.nupd = np.zeros(self.n if on else 0, np.int64)
        self.g_cnt = np.zeros(self.g_src.size if on else 0, np.int64)
        self.lbin = np.full(self.n if on else 0, np.iinfo(np.int64).min // 2, np.int64)
        self.npop = np.zeros(self.n if on else 0, np.int64)
        if on:
            for k, pop in enumerate(net.populations):
                self.npop[pop.first:pop.first + pop.size] = k
        self.bin_width = net.bin_width if on else 0.0
        self._act = []  # (bin indices, counts[bins, populations]) of the bins with activity, per chunk
        self.touched = np.empty(self.n, np.int64)
        self.tflag = np.zeros(self.n, np.int8)
        rec = np.zeros(self.n, np.int8)
        for pop in net.populations:
            if pop._record_spikes:
                rec[pop.first:pop.first + pop.size] = 1
        for p in self.btsp:  # BTSP reads its presynaptic (and top-down) spikes from the output buffer
            rec[p.pre.first:p.pre.first + p.pre.size] = 1
            if p._gate is not None:
                g = p._gate["pop"]
                rec[g.first:g.first + g.size] = 1
        if self.cosim is not None:
            self.cosim.mark(rec)
            self.cosim.reset(keep_weights)
        self.rec = rec
        self._btsp_reset(keep_weights)
        self._spk_t, self._spk_i = [], []
        # samplers: one column per (population, variable, neuron)
        cols_id, cols_var, self._samplers = [], [], []
        c = 0
        for pop in net.populations:
            if getattr(pop.model, "clocked", False):  # sampled by their clocked domain
                continue
            for smp in pop._samplers:
                ids = smp["ids"] + pop.first
                cols_id.append(ids)
                cols_var.append(np.full(ids.size, dt.VAR_CODES[smp["var"]], np.int64))
                self._samplers.append((pop, smp, c, c + ids.size))
                c += ids.size
        self.smp_id = np.concatenate(cols_id).astype(np.int64) if cols_id else np.empty(0, np.int64)
        self.smp_var = np.concatenate(cols_var) if cols_var else np.empty(0, np.int64)
        self._smp_t, self._smp_v = [], []

    def _sample_times(self, t0, t1, inclusive=False):
        """Union of all samplers' times in [t0, t1) (``inclusive``: [t0, t1]), with a per-sampler membership mask."""
        per = []
        for _pop, smp, _a, _b in self._samplers:
            if smp["interval"] is not None:
                iv = smp["interval"]
                k0 = math.ceil(t0 / iv - 1e-12)
                k1 = math.floor(t1 / iv + 1e-12) + 1 if inclusive else math.ceil(t1 / iv - 1e-12)
                ts = np.arange(k0, k1, dtype=np.float64) * iv
                ts = ts[(ts >= t0) & ((ts <= t1 + 1e-12 * iv) if inclusive else (ts < t1))]
                if inclusive:
                    ts = np.minimum(ts, t1)  # k * iv one ulp above t1 is the sample at t1
            else:
                ts = smp["times"][(smp["times"] >= t0) & ((smp["times"] <= t1) if inclusive else (smp["times"] < t1))]
            per.append(ts)
        if not per:
            return np.empty(0), []
        times = np.unique(np.concatenate(per))
        return times, [np.isin(times, ts) for ts in per]

    # ------------------------------------------------------------------ run
    def inject(self, times, ids):
        """Queue source spikes (global neuron ``ids`` at ``times`` ms >= the current time).

        The spikes not yet emitted and the new ones are merged in (time, id) order; the
        consumed ones are released, so a stream fed chunk by chunk needs constant memory.
        """
        p = int(self.ctr[dt.C_SRC])
        nt = np.asarray(times, np.float64)
        ni = np.asarray(ids, np.int64)
        order = np.lexsort((ni, nt))
        nt, ni = nt[order], ni[order]
        rt, ri = self.src_t[p:], self.src_id[p:]
        if rt.size and nt.size and (nt[-1] < rt[0] or (nt[-1] == rt[0] and ni[-1] < ri[0])):
            nt, ni = np.concatenate([nt, rt]), np.concatenate([ni, ri])  # all before the queue (clocked spikes)
        elif rt.size and nt.size and (nt[0] < rt[-1] or (nt[0] == rt[-1] and ni[0] < ri[-1])):
            t = np.concatenate([rt, nt])  # interleaved with queued spikes: merge
            i = np.concatenate([ri, ni])
            order = np.lexsort((i, t))
            nt, ni = t[order], i[order]
        elif rt.size:
            nt, ni = np.concatenate([rt, nt]), np.concatenate([ri, ni])  # a stream in time order: append
        self.src_t, self.src_id = nt, ni
        self.ctr[dt.C_SRC] = 0
        if self.cosim is not None:
            self.cosim.on_inject(times, ids)

    def run(self, duration, progress=False):
        """Advance the network by ``duration`` ms."""
        self.run_to(self.t + duration, progress)

    def run_to(self, t1, progress=False):
        """Advance the network to time ``t1`` ms (exactly: ``self.t`` becomes ``t1``)."""
        t0 = self.t
        duration = t1 - t0
        if duration <= 0:
            return
        # with a progress bar, run in up to 200 chunks (a continued run gives the same spikes; states can differ
        # in the last bit, see docs/engine.md)
        n_chunks = min(200, max(1, int(duration))) if progress else 1
        if self.bin_width > 0:  # bounded activity-bin buffers: at most _MAX_BIN_CELLS counts per chunk
            rows = max(1, _MAX_BIN_CELLS // max(1, len(self.net.populations)))
            n_chunks = max(n_chunks, math.ceil(duration / self.bin_width / rows))
        edges = np.linspace(t0, t1, n_chunks + 1)
        edges[-1] = t1
        if self.cosim is not None:  # chunks on the clock
            self.cosim.begin()
            h = self.cosim.h
            self.cosim.check_time(t0, "the start time")
            self.cosim.check_time(t1, "the end time")
            edges = np.unique(np.concatenate([[t0], np.rint(edges[1:-1] / h) * h, [t1]]))
            edges = edges[(edges >= t0) & (edges <= t1)]
        wsmp = self._weight_sample_times(t0, t1)
        if wsmp.size and self.cosim is not None:
            for w in wsmp:  # chunks include their end here: a sample at t comes after the events at t
                self.cosim.check_time(float(w), "a weight sample time")
        if wsmp.size:  # sampled weights: cut the run at the sample times (a sample at t: before events at t)
            edges = np.union1d(edges, wsmp[wsmp > t0])
        if wsmp.size and wsmp[0] == t0:
            self._sample_weights(t0)
        bar = None
        if progress:
            try:
                from tqdm import tqdm

                bar = tqdm(total=duration, unit="ms", desc="simulating", leave=False)
            except ImportError:  # pragma: no cover - tqdm comes with tonic
                bar = None
        for a, b in zip(edges[:-1], edges[1:]):
            if self.btsp:
                t = a
                while t < b:  # cut at the times BTSP changes weights (window closes; ode: exchange steps)
                    self._gate_step(t + self._gate_delay)
                    tn = self._btsp_next(t, b)
                    self._run_chunk(t, tn)
                    t = tn
            elif self.cosim is not None:
                self.cosim.run(a, b)
            else:
                self._run_chunk(a, b)
            if wsmp.size and b < t1 and np.any(wsmp == b):
                self._sample_weights(b)
            if bar is not None:
                bar.update(b - a)
        if bar is not None:
            bar.close()

    def _run_chunk(self, t0, t1, inclusive=False):
        """Run the kernel over ``[t0, t1)`` (``inclusive``: events at ``t1`` too); ``self.t`` becomes ``t1``.

        Returns the spikes the kernel reported in the chunk (times, global ids).
        """
        t_stop = float(np.nextafter(t1, math.inf)) if inclusive else t1
        times, masks = self._sample_times(t0, t1, inclusive)
        if self._incl is not None and times.size and times[0] <= self._incl:  # taken by the last chunk
            keep = times > self._incl
            times, masks = times[keep], [m[keep] for m in masks]
        self._incl = t1 if inclusive else None
        smp_out = np.full((times.size, self.smp_id.size), np.nan)
        self.ctr[dt.C_SMP] = 0
        self.ctr[dt.C_OUT] = 0
        if self.bin_width > 0:
            p = int(self.ctr[dt.C_SRC])  # clocked spikes queued after the core passed them count in their own bin
            k0 = self._bin(min(t0, float(self.src_t[p])) if p < self.src_t.size else t0)
            act = np.zeros((self._bin(t1) - k0 + 1, len(self.net.populations)), np.int64)
            ebin = np.array([self.bin_width, float(k0)])
        else:
            act = np.zeros((0, 0), np.int64)
            ebin = np.zeros(2)
        wall = time.perf_counter()
        res = self.backend.run(
            self.kinds, self.P, self.S, self.nspk, self.rec,
            self.g_ptr, self.g_src, self.g_delay, self.g_syn, self.syn_tgt, self.syn_w,
            self.d_ptr, self.d_rate, self.d_dt, self.d_w, self.d_next, self.d_rng,
            self.src_t, self.src_id, self.psrc, self.rng,
            times, self.smp_id, self.smp_var, smp_out,
            self.flush, self.touched, self.tflag,
            self.h_t, self.h_g, self.o_t, self.o_i, self.ctr,
            self.nupd, self.g_cnt, self.lbin, self.npop, act, ebin,
            self.g_rule, self.R, self.gst, self.syn_kp, self.hrow, self.hist, self.hinfo, self.in_ptr, self.in_grp,
            self.w_t, self.w_k, self.w_w, self.dh_t, self.dh_m, self.dh_n,
            t0, t_stop, self.window)
        self.wall_time += time.perf_counter() - wall
        self.h_t, self.h_g, self.o_t, self.o_i, self.hist, self.w_t, self.w_k, self.w_w = res
        nw = int(self.ctr[dt.C_WREC])
        if nw:
            self._collect_weight_events(nw)
        self.ctr[dt.C_WREC] = 0
        k = int(self.ctr[dt.C_OUT])
        out_t, out_i = self.o_t[:k].copy(), self.o_i[:k].copy()
        if k:
            self._spk_t.append(out_t)
            self._spk_i.append(out_i)
        if self.btsp:
            self._gate_collect(self.o_t[:k], self.o_i[:k])
            self._btsp_feed(self.o_t[:k], self.o_i[:k], t1)
        if act.size:
            rows = np.flatnonzero(act.any(axis=1))
            if rows.size:
                self._act.append((rows + k0, act[rows]))
        if times.size:
            self._smp_t.append((times, masks))
            self._smp_v.append(smp_out)
        self.t = float(t1)
        return out_t, out_i

    # ------------------------------------------------------------ plasticity
    def _btsp_reset(self, keep_weights):
        """One BTSPState per BTSP projection at t = 0, fed with the plateaus given so far."""
        from .btsp import BTSPState

        self._btsp = {}
        self._gates = {}
        #: shortest top-down delay of the dendritic gates (runs are cut at it)
        self._gate_delay = min([p._gate["delay"] for p in self.btsp if p._gate is not None], default=0.0)
        self._onsets = {}
        for p in self.btsp:
            csr = self._csr[id(p)]
            w = np.array(self.syn_w[csr] if keep_weights else p._weights, dtype=np.float64)
            self.syn_w[csr] = w
            st = BTSPState(p.plasticity, p.pre.size, p.post.size, p.sources, p.targets, w)
            for pl in p._plateaus:
                st.add_plateaus(*pl)
            self._btsp[id(p)] = st
            if p._gate is not None:  # dendritic state, last update, earliest next plateau, pending arrivals
                self._gates[id(p)] = {"D": np.zeros(p.post.size), "t": np.zeros(p.post.size),
                                      "free": np.zeros(p.post.size), "pend_t": np.empty(0),
                                      "pend_i": np.empty(0, np.int64), "pend_w": np.empty(0)}
            self._onsets[id(p)] = [pl[0] for pl in p._plateaus]

    def add_plateaus(self, proj, times, ids, durations):
        """Hand plateaus of BTSP projection ``proj`` to its running state."""
        self._btsp[id(proj)].add_plateaus(times, ids, durations)
        self._onsets[id(proj)].append(np.asarray(times, np.float64))

    def plateau_onsets_of(self, proj):
        """Every plateau onset of BTSP projection ``proj`` so far (given and dendritic), sorted."""
        o = self._onsets[id(proj)]
        return np.sort(np.concatenate(o)) if o else np.empty(0)

    def _gate_step(self, t1):
        """Dendritic-threshold plateaus with onsets before ``t1`` from the top-down arrivals before ``t1``
        (all known: runs are cut to at most the top-down delay)."""
        for p in self.btsp:
            if p._gate is None:
                continue
            gate, g = p._gate, self._gates[id(p)]
            m = g["pend_t"] < t1
            if not m.any():
                continue
            at, ai, aw = g["pend_t"][m], g["pend_i"][m], g["pend_w"][m]
            g["pend_t"], g["pend_i"], g["pend_w"] = g["pend_t"][~m], g["pend_i"][~m], g["pend_w"][~m]
            order = np.lexsort((ai, at))
            at, ai, aw = at[order], ai[order], aw[order]
            dur = p.plasticity.plateau_duration
            on_t, on_i = [], []
            k = 0
            while k < at.size:  # one instant per (time, neuron): inputs arriving together are summed first
                e = k
                w = 0.0
                while e < at.size and at[e] == at[k] and ai[e] == ai[k]:
                    w += aw[e]
                    e += 1
                i, t = int(ai[k]), float(at[k])
                D = g["D"][i] * math.exp(-(t - g["t"][i]) / gate["tau"]) + w
                g["D"][i], g["t"][i] = D, t
                if D >= gate["threshold"] and t >= g["free"][i]:
                    on_t.append(t)
                    on_i.append(i)
                    g["free"][i] = t + dur + gate["pause"]
                k = e
            if on_t:
                self.add_plateaus(p, np.array(on_t), np.array(on_i, np.int64), None)

    def _gate_collect(self, t_out, i_out):
        """Queue the dendritic arrivals of the top-down spikes of the last kernel call."""
        for p in self.btsp:
            if p._gate is None:
                continue
            gate, g = p._gate, self._gates[id(p)]
            pop = gate["pop"]
            m = (i_out >= pop.first) & (i_out < pop.first + pop.size)
            if not m.any():
                continue
            tt, ii = t_out[m], i_out[m] - pop.first
            lo = np.searchsorted(gate["sources"], ii, side="left")  # sources are sorted (plateaus_from)
            cnt = np.searchsorted(gate["sources"], ii, side="right") - lo
            if not cnt.any():
                continue
            rep = np.repeat(np.arange(ii.size), cnt)
            syn = lo[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            g["pend_t"] = np.concatenate([g["pend_t"], tt[rep] + gate["delay"]])
            g["pend_i"] = np.concatenate([g["pend_i"], gate["targets"][syn].astype(np.int64)])
            g["pend_w"] = np.concatenate([g["pend_w"], gate["weights"][syn]])

    def _btsp_next(self, t, t1):
        """The next time after ``t`` (at most ``t1``) at which a BTSP rule changes weights, or at which
        top-down spikes emitted since may start plateaus (runs are cut at the top-down delay)."""
        nxt = t1
        if self._gate_delay > 0.0:
            nxt = min(nxt, t + self._gate_delay)
        for p in self.btsp:
            st = self._btsp[id(p)]
            tn = st.next_update_time()
            if tn <= t:  # ode: a window is open; the network sees the weights every exchange step
                tn = t + p.plasticity.exchange_dt
            nxt = min(nxt, tn)
        return nxt

    def _btsp_feed(self, t_out, i_out, t1):
        """Give each BTSP state the presynaptic spikes of the last kernel call, advance it to ``t1`` and
        copy its weights into the kernel's synapse array."""
        for p in self.btsp:
            st = self._btsp[id(p)]
            m = (i_out >= p.pre.first) & (i_out < p.pre.first + p.pre.size)
            if m.any():
                tt, ii = t_out[m], i_out[m] - p.pre.first
                order = np.lexsort((ii, tt))
                st.add_pre_spikes(tt[order], ii[order])
            st.advance(t1)
            self.syn_w[self._csr[id(p)]] = st.weights

    def weights_of(self, proj):
        """Current weights of plastic projection ``proj`` (a copy, in the projection's synapse order)."""
        return self.syn_w[self._csr[id(proj)]]

    def set_weights(self, proj, w):
        """Overwrite the current weights of plastic projection ``proj``."""
        self.syn_w[self._csr[id(proj)]] = w
        if id(proj) in getattr(self, "_btsp", {}):
            self._btsp[id(proj)].weights[:] = w

    def _collect_weight_events(self, nw):
        """Split the kernel's weight-update records of this chunk by projection (CSR -> local index)."""
        k = self.w_k[:nw]
        rule = self.g_rule[np.searchsorted(self.g_syn, k, side="right") - 1]
        for r, p in enumerate(self.plastic):
            if p._wrec is None or p._wrec["mode"] != "events":
                continue
            m = rule == r
            if not m.any():
                continue
            csr = self._csr[id(p)]
            order = np.argsort(csr)
            local = order[np.searchsorted(csr, k[m], sorter=order)]
            self._w_events[id(p)].append((self.w_t[:nw][m].copy(), local, self.w_w[:nw][m].copy()))

    def weight_events_of(self, proj):
        """(times, synapses, weights) of every recorded update of ``proj``."""
        ev = self._w_events.get(id(proj), [])
        if not ev:
            return np.empty(0), np.empty(0, np.int64), np.empty(0)
        if len(ev) > 1:
            ev[:] = [tuple(np.concatenate(x) for x in zip(*ev))]
        return tuple(a.copy() for a in ev[0])

    def _weight_sample_times(self, t0, t1):
        """Sample times of sampled weight recordings in [t0, t1)."""
        ts = []
        for p in self.plastic:
            if p._wrec is not None and p._wrec["mode"] == "samples":
                iv = p._wrec["interval"]
                k0 = math.ceil(t0 / iv - 1e-12)
                k1 = math.ceil(t1 / iv - 1e-12)
                x = np.arange(k0, k1, dtype=np.float64) * iv
                ts.append(x[(x >= t0) & (x < t1)])
        return np.unique(np.concatenate(ts)) if ts else np.empty(0)

    def _sample_weights(self, t):
        for p in self.plastic:
            rec = p._wrec
            if rec is not None and rec["mode"] == "samples":
                iv = rec["interval"]
                if abs(t / iv - round(t / iv)) < 1e-9:
                    times, vals = self._w_samples[id(p)]
                    times.append(t)
                    vals.append(self.syn_w[self._csr[id(p)][rec["ids"]]])

    def weight_samples_of(self, proj):
        """(times, values[n_times, n_ids], ids) of a sampled weight recording."""
        times, vals = self._w_samples[id(proj)]
        ids = proj._wrec["ids"]
        if not times:
            return np.empty(0), np.empty((0, ids.size)), ids.copy()
        return np.array(times), np.stack(vals), ids.copy()

    # -------------------------------------------------------------- results
    def _all_spikes(self):
        if len(self._spk_t) > 1:
            self._spk_t = [np.concatenate(self._spk_t)]
            self._spk_i = [np.concatenate(self._spk_i)]
        if not self._spk_t:
            return np.empty(0), np.empty(0, np.int64)
        return self._spk_t[0], self._spk_i[0]

    def spikes_of(self, pop):
        """Recorded spikes of ``pop`` as (times, local ids), sorted by (time, id)."""
        if not pop._record_spikes:
            from .errors import ParameterError

            raise ParameterError(f"population {pop.name!r}: spikes were not recorded (call record('spikes') "
                                 "before running)")
        t, i = self._all_spikes()
        m = (i >= pop.first) & (i < pop.first + pop.size)
        t, i = t[m], i[m] - pop.first
        order = np.lexsort((i, t))
        return t[order], i[order]

    def samples_of(self, pop, what):
        """Sampled ``what`` of ``pop``: (times, values[n_times, n_ids], ids)."""
        from .errors import ParameterError

        if self.cosim is not None and getattr(pop.model, "clocked", False):
            return self.cosim.samples_of(pop, what)
        for k, (p, smp, a, b) in enumerate(self._samplers):
            if p is pop and smp["var"] == what:
                ts, vs = [], []
                for (times, masks), vals in zip(self._smp_t, self._smp_v):
                    m = masks[k]
                    ts.append(times[m])
                    vs.append(vals[m, a:b])
                if not ts:
                    return np.empty(0), np.empty((0, b - a)), smp["ids"].copy()
                return np.concatenate(ts), np.concatenate(vs), smp["ids"].copy()
        raise ParameterError(f"population {pop.name!r}: {what!r} was not recorded")

    def counts_of(self, pop):
        """Spikes per neuron of ``pop``."""
        return self.nspk[pop.first:pop.first + pop.size].copy()

    def counters(self):
        """Event counters since the last reset."""
        c = self.ctr
        upd, syn = self.cosim.counters() if self.cosim is not None else (0, 0)
        return {"spikes": int(c[dt.C_SPK]), "synaptic_events": int(c[dt.C_SYNEV]) + syn,
                "recurrent_synaptic_events": int(c[dt.C_SYNEV_REC]), "neuron_updates": int(c[dt.C_UPD]) + upd,
                "drive_events": int(c[dt.C_KICK]), "weight_updates": int(c[dt.C_WUPD]),
                "trace_updates": int(c[dt.C_TRACE])}

    def _bin(self, t):
        """Activity bin of time ``t`` (the kernel's rule: floor(t / width + 1e-9))."""
        return int(math.floor(t / self.bin_width + 1e-9))

    def active_table(self):
        """Bins with activity and their active-neuron counts per population: (bins, counts[len(bins), n_pops]).

        A bin split between two run() calls appears once, its counts summed (each neuron counts once per bin).
        """
        npop = len(self.net.populations)
        if not self._act:
            return np.empty(0, np.int64), np.zeros((0, npop), np.int64)
        if len(self._act) > 1:
            bins = np.concatenate([b for b, _ in self._act])
            cnt = np.concatenate([c for _, c in self._act])
            ub, inv = np.unique(bins, return_inverse=True)
            out = np.zeros((ub.size, npop), np.int64)
            np.add.at(out, inv, cnt)
            self._act = [(ub, out)]
        return self._act[0]

    def memory_bytes(self):
        """Bytes held by connectivity arrays (synapses and delay groups) and plasticity state
        (rule table, per-group traces, spike histories, synapse index maps)."""
        arrs = [self.syn_tgt, self.syn_w, self.g_src, self.g_delay, self.g_syn, self.g_ptr]
        return sum(a.nbytes for a in arrs) + self.plasticity_bytes()

    def plasticity_bytes(self):
        """Bytes of plasticity state: rule table, traces, spike histories, index maps, initial weights."""
        if not self.plastic:
            return 0
        arrs = [self.g_rule, self.R, self.gst, self.syn_kp, self.hrow, self.hist, self.hinfo, self.in_ptr,
                self.in_grp, self.dh_t, self.dh_m, self.dh_n]
        arrs += list(self._csr.values()) + [p._weights for p in self.plastic]
        return sum(a.nbytes for a in arrs)
