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

# parameter columns of P[n, NP] (hot columns first: one 64-byte cache line with aligned rows)
cdef enum:
    P_V_INF = 0
    P_TAU_M = 1
    P_V_TH = 2
    P_BETA = 3
    P_V_MIN = 4
    P_T_REF = 5
    P_V_RESET = 6
    P_RESET_SUB = 7
    P_TAU_A = 8
    P_TAU_EX = 9
    P_TAU_IN = 10
    P_K_EX = 11
    P_K_IN = 12
    P_C_M = 13
    P_E_L = 14
    P_I_E = 15
    P_RATE = 16
    P_SLOPE = 17
    P_TMINV = 18
    P_TTINV = 19
    P_G_EX = 20
    P_G_IN = 21
    P_KG_EX = 22
    NP = 24

# state columns of S[n, NS] (one 64-byte cache line per neuron)
cdef enum:
    S_V = 0
    S_T = 1
    S_REF = 2
    S_X = 3
    S_TK = 4
    S_A = 5
    S_IEX = 6
    S_IIN = 7
    S_XE = 8
    S_XI = 9
    NS = 16

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
    C_KICK = 8
    C_WUPD = 9
    C_TRACE = 10
    C_WREC = 11
    NCTR = 12

# plasticity: rule types, rule parameter columns R[:, NR], group state gst[:, NG], history hist[:, H, NH]
cdef enum:
    RULE_STDP = 1
    RULE_NN_SYMM = 2
    RULE_NN_RESTR = 3
    RULE_NN_PRE = 4
    RULE_TRIPLET = 5
    RULE_DOPA = 6

cdef enum:
    R_TYPE = 0
    R_DDEN = 1
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
    R_REC = 13
    R_TMINV = 14
    R_TAU_C = 15
    R_TAU_N = 16
    R_B = 17
    R_WMIN = 18
    R_VT = 19
    NR = 24

cdef enum:
    G_TLAST = 0
    G_KP = 1
    G_R2 = 2
    G_HAS = 3
    G_N = 4
    G_DIDX = 5
    NG = 6

cdef enum:
    H_T = 0
    H_KM = 1
    H_KT = 2
    NH = 3
