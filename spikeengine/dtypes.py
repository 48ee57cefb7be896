"""Memory layout shared by every backend.

This module is the single place (with ``kernels/_types.pxd``, which mirrors it)
where the kernels' array layouts, column indices and C types are declared. The
Python reference (:mod:`spikeengine.backends.python`), its Numba twin and the
Cython kernels all index the same arrays with these constants.

Neuron parameters live in a float64 matrix ``P[n_neurons, NP]`` and neuron state
in ``S[n_neurons, NS]`` (one row per neuron, so one neuron's data is contiguous).
"""

import numpy as np

TIME = np.float64  #: all times, in ms
WEIGHT = np.float64  #: synaptic weights
INDEX = np.int64  #: pointers into CSR arrays, heap entries
TARGET = np.int32  #: synapse targets (global neuron index)

# neuron kinds -------------------------------------------------------------
KIND_SOURCE = 0  #: explicit spike times (SpikeSourceArray); never receives input
KIND_LIF = 1  #: leaky integrate-and-fire, delta synapses (iaf_psc_delta), optional adaptation
KIND_LIF_EXP = 2  #: leaky integrate-and-fire, exponential current synapses (iaf_psc_exp)
KIND_IF = 3  #: non-leaky integrate-and-fire, delta synapses (NIR IF)
KIND_PARROT = 4  #: re-emits every input spike
KIND_POISSON = 5  #: Poisson spike source, one independent stream per unit

# parameter columns ---------------------------------------------------------
# The columns read on every delivery come first: with 64-byte aligned rows they share one cache line.
P_V_INF = 0  #: derived: E_L + I_e tau_m / C_m (leaky kinds)
P_TAU_M = 1
P_V_TH = 2
P_BETA = 3
P_V_MIN = 4
P_T_REF = 5
P_V_RESET = 6
P_RESET_SUB = 7  #: 1.0 -> reset by subtraction of the threshold, 0.0 -> reset to V_reset
P_TAU_A = 8
P_TAU_EX = 9
P_TAU_IN = 10
P_K_EX = 11  #: derived: tau_m tau_ex / (C_m (tau_ex - tau_m))
P_K_IN = 12  #: derived: tau_m tau_in / (C_m (tau_in - tau_m))
P_C_M = 13
P_E_L = 14
P_I_E = 15
P_RATE = 16  #: Poisson source rate, in 1/ms
P_SLOPE = 17  #: derived: I_e / C_m (non-leaky kind), mV/ms
P_TMINV = 18  #: STDP: 1 / tau_minus of the postsynaptic trace (a post-neuron parameter, as in NEST)
P_TTINV = 19  #: STDP: 1 / tau_minus_triplet of the postsynaptic triplet trace
P_G_EX = 20  #: derived: max over s >= 0 of |exp(-s/tau_ex) - exp(-s/tau_m)| (safe_until bound)
P_G_IN = 21  #: derived: the same for tau_in
P_KG_EX = 22  #: derived: |P_K_EX| P_G_EX, the largest rise of V per pA of excitatory input
NP = 24  #: padded to three cache lines

# state columns (two 64-byte cache lines per neuron; the hot columns in the first) ----
S_V = 0  #: membrane potential, mV
S_T = 1  #: time the row is valid at (for Poisson sources: next spike time, -1 = not drawn)
S_REF = 2  #: end of the refractory period
S_X = 3  #: KIND_LIF, KIND_LIF_EXP: exp((S_T - T0) / tau_m), T0 the kernel's decay epoch (shared decay factors)
S_TK = 4  #: time of the next Poisson-drive kick (INF: no drive; -1: not drawn yet)
S_A = 5  #: adaptation variable (threshold = V_th + beta * a)
S_IEX = 6  #: excitatory synaptic current, pA
S_IIN = 7  #: inhibitory synaptic current, pA
S_XE = 8  #: KIND_LIF_EXP: exp((S_T - T0) / tau_syn_ex)
S_XI = 9  #: KIND_LIF_EXP: exp((S_T - T0) / tau_syn_in)
NS = 16

# counters (int64 array ``ctr``) ------------------------------------------------
C_HEAP = 0  #: entries in the event heap
C_OUT = 1  #: recorded spikes in the output buffer
C_SRC = 2  #: next explicit source spike to inject
C_SMP = 3  #: next sample time
C_SYNEV = 4  #: synaptic events delivered (spikes x fan-out), all projections
C_SYNEV_REC = 5  #: synaptic events delivered from non-source neurons (recurrent)
C_UPD = 6  #: neuron state updates performed (lazy advances)
C_SPK = 7  #: spikes emitted (all kinds)
C_KICK = 8  #: Poisson-drive kicks applied (external input events)
C_WUPD = 9  #: plasticity: weight updates applied (facilitation and depression steps)
C_TRACE = 10  #: plasticity: trace updates (presynaptic trace per plastic group spike, postsynaptic history entries)
C_WREC = 11  #: plasticity: recorded weight updates in the weight output buffer
NCTR = 12

# plasticity rules ----------------------------------------------------------------
# rule types (R[r, R_TYPE]); a group's rule is g_rule[g] (-1: static synapses)
RULE_STDP = 1  #: pair-based all-to-all STDP, Guetig weight dependence (NEST stdp_synapse)
RULE_NN_SYMM = 2  #: nearest-neighbour, symmetric (stdp_nn_symm_synapse)
RULE_NN_RESTR = 3  #: nearest-neighbour, restricted (stdp_nn_restr_synapse)
RULE_NN_PRE = 4  #: nearest-neighbour, presynaptic-centred (stdp_nn_pre_centered_synapse)
RULE_TRIPLET = 5  #: triplet rule, all-to-all (Pfister & Gerstner 2006; stdp_triplet_synapse)
RULE_DOPA = 6  #: dopamine-modulated STDP (Izhikevich 2007; stdp_dopamine_synapse)
# rule parameter columns of R[n_rules, NR]
R_TYPE = 0
R_DDEN = 1  #: 1.0: the whole delay is dendritic (NEST); 0.0: the whole delay is axonal
R_WMAX = 2
R_TAU_PLUS = 3
R_LAMBDA = 4
R_ALPHA = 5
R_MU_PLUS = 6
R_MU_MINUS = 7
R_TAU_X = 8
R_APLUS = 9
R_AMINUS = 10
R_APLUS3 = 11
R_AMINUS3 = 12
R_REC = 13  #: 1.0: record every weight update of this rule's synapses
R_TMINV = 14  #: 1 / tau_minus of the rule's targets (equal to their P_TMINV: checked at compile time)
R_TAU_C = 15  #: dopamine rule: eligibility-trace time constant
R_TAU_N = 16  #: dopamine rule: dopamine-trace time constant
R_B = 17  #: dopamine rule: dopamine baseline
R_WMIN = 18  #: dopamine rule: lower weight bound
R_VT = 19  #: dopamine rule: row of its dopamine arrivals in dh_t / dh_m
NR = 24
# per-group plasticity state columns of gst[n_groups, NG]
G_TLAST = 0  #: synapse time of the last presynaptic spike (NEST's t_lastspike, initially 0)
G_KP = 1  #: presynaptic trace K+ after that spike
G_R2 = 2  #: triplet: presynaptic trace r2 (NEST's Kplus_triplet)
G_HAS = 3  #: 1.0 once the group has seen a presynaptic spike
G_N = 4  #: dopamine rule: dopamine trace n, as of the arrival G_DIDX (identical for the group's synapses)
G_DIDX = 5  #: dopamine rule: index of the last dopamine arrival processed (row entry; 0 = the t = 0 sentinel)
NG = 6
# postsynaptic spike history hist[rows, H, NH]: ring buffers of (time, K-, K-_triplet) after each spike
H_T = 0
H_KM = 1
H_KT = 2
NH = 3
#: NEST's tolerance when comparing spike times in STDP (ms)
STDP_EPS = 1.0e-6

# recorded state variables ----------------------------------------------------
VAR_CODES = {"V_m": S_V, "I_syn_ex": S_IEX, "I_syn_in": S_IIN, "a": S_A}
