"""imatinib_tdm: therapeutic drug monitoring and model-informed precision dosing of imatinib.

Research and decision support, not a medical device.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imatinib-tdm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
