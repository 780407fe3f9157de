"""Errors raised for users: one sentence naming what is wrong, where, and what to do."""


class CifarflowError(Exception):
    """Base class; the CLI prints these as a single line and exits with status 1."""


class DataError(CifarflowError):
    """A data file (archive, image, HDF5) is missing, corrupt or not what was expected."""


class DownloadError(CifarflowError):
    """The archive could not be fetched or did not verify."""


class ConfigError(CifarflowError):
    """A config key has a wrong or inconsistent value."""
