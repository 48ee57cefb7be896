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
NP = 24  #: padded to three cache lines

# state columns (one 64-byte cache line per neuron) ----------------------------
S_V = 0  #: membrane potential, mV
S_T = 1  #: time the row is valid at (for Poisson sources: next spike time, -1 = not drawn)
S_REF = 2  #: end of the refractory period
S_X = 3  #: KIND_LIF: exp((S_T - T0) / tau_m), T0 the kernel's decay epoch (shared decay factors)
S_TK = 4  #: time of the next Poisson-drive kick (INF: no drive; -1: not drawn yet)
S_A = 5  #: adaptation variable (threshold = V_th + beta * a)
S_IEX = 6  #: excitatory synaptic current, pA
S_IIN = 7  #: inhibitory synaptic current, pA
NS = 8

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
NCTR = 9

# recorded state variables ----------------------------------------------------
VAR_CODES = {"V_m": S_V, "I_syn_ex": S_IEX, "I_syn_in": S_IIN, "a": S_A}
