"""One exception hierarchy; the CLI maps each class to an exit code."""


class SpikeEngineError(Exception):
    """Base class of every error spikeengine raises on purpose."""

    exit_code = 1


class ParameterError(SpikeEngineError, ValueError):
    """A model, connector or run parameter is missing, unknown or out of range."""

    exit_code = 3


class NetworkError(SpikeEngineError, ValueError):
    """The network is inconsistent: bad indices, shapes, delays, weights or populations."""

    exit_code = 3


class InputFormatError(SpikeEngineError, ValueError):
    """An input file or stream cannot be read."""

    exit_code = 4


class BackendError(SpikeEngineError, RuntimeError):
    """The requested kernel backend is unknown or unavailable."""

    exit_code = 5
