"""The errors of deployment with GlobalPlatformPro."""

from __future__ import annotations

from tpmcard.errors import TpmcardError


class GpError(TpmcardError):
    """Deployment to a card failed or cannot start."""


class ProfileError(GpError):
    """The deployment profile is malformed or does not match the suite manifest."""


class CardKeyError(GpError):
    """The card keys are missing, malformed, or stored unsafely."""


class CapFileError(GpError):
    """A CAP file is missing, malformed, or does not match the suite manifest."""


class GpToolMissingError(GpError):
    """GlobalPlatformPro (or a Java runtime for it) cannot be found."""


class GpToolError(GpError):
    """gptool ran and failed. ``returncode`` and ``output`` (stdout + stderr) tell how."""

    def __init__(self, purpose: str, returncode: int, output: str) -> None:
        self.purpose = purpose
        self.returncode = returncode
        self.output = output
        last = output.strip().splitlines()[-1] if output.strip() else "(no output)"
        super().__init__(
            f"gptool failed while it tried to {purpose} (exit status {returncode}): {last}. "
            "Run again with -v to see its full output."
        )
