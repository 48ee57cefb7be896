# cython: language_level=3
"""C types and memory layout of the kernels.

The one place where the kernels' time / index / target / weight C types are
declared. The layout constants mirror ``spikeengine/dtypes.py`` exactly (keep the
two in sync: ``tests/test_backends_agree.py`` checks them against each other).
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t

ctypedef double time_t       # all times, ms (dtypes.TIME = float64)
ctypedef int64_t index_t     # CSR pointers, heap entries, counters (dtypes.INDEX = int64)
ctypedef int32_t target_t    # synapse targets (dtypes.TARGET = int32)
ctypedef double weight_t     # synaptic weights (dtypes.WEIGHT = float64)
ctypedef int8_t flag_t       # rec / tflag arrays (int8)
ctypedef uint64_t rng_t      # splitmix64 stream states (uint64)

# neuron kinds
cdef enum:
    KIND_SOURCE = 0
    KIND_LIF = 1
    KIND_LIF_EXP = 2
    KIND_IF = 3
    KIND_PARROT = 4
    KIND_POISSON = 5

# parameter columns of P[n, NP]
cdef enum:
    P_TAU_M = 0
    P_C_M = 1
    P_E_L = 2
    P_I_E = 3
    P_V_TH = 4
    P_V_RESET = 5
    P_T_REF = 6
    P_TAU_EX = 7
    P_TAU_IN = 8
    P_TAU_A = 9
    P_BETA = 10
    P_V_MIN = 11
    P_RESET_SUB = 12
    P_V_INF = 13
    P_K_EX = 14
    P_K_IN = 15
    P_RATE = 16
    P_SLOPE = 17
    NP = 18

# state columns of S[n, NS]
cdef enum:
    S_V = 0
    S_IEX = 1
    S_IIN = 2
    S_A = 3
    S_T = 4
    S_REF = 5
    NS = 6

# counters (int64 array ctr[NCTR])
cdef enum:
    C_HEAP = 0
    C_OUT = 1
    C_SRC = 2
    C_SMP = 3
    C_SYNEV = 4
    C_SYNEV_REC = 5
    C_UPD = 6
    C_SPK = 7
    NCTR = 8
