"""Simulator and test infrastructure: a private pcscd and the simulated card behind vpcd.

Nothing in the library proper imports this package; ``tpmcard sim serve``, ``tpmcard bench``
and the tests do.
"""
