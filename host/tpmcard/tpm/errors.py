"""Errors of the TPM layer that code above it tells apart.

They extend the tree in :mod:`tpmcard.errors` (``TpmError`` keeps ``rc``, the TPM response code).
This module imports no TSS library, so verifiers can catch these without ``tpm2_pytss``.
"""

from __future__ import annotations

from tpmcard.errors import TpmcardError, TpmError


class TpmPolicyError(TpmError):
    """The TPM refused a policy session: the PCRs a key is bound to no longer hold the values
    they held when the key was created (the host's measured state changed since pairing).

    ``pcr_selection`` is the tpm2-tools spelling of the bound PCRs (e.g. ``"sha256:7,16"``).
    """

    def __init__(self, message: str, rc: int | None = None, pcr_selection: str = "") -> None:
        self.pcr_selection = pcr_selection
        super().__init__(message, rc=rc)


class PcrStateChangedError(TpmPolicyError):
    """The host's PCRs no longer hold the values a pairing is bound to, so no session can open.

    ``pcrs`` are the policy PCRs whose values changed (all of the policy's when the values at
    pairing are unknown). ``detected_by`` says who noticed: ``"host"`` (tpmcard compared the PCRs
    with the pairing before contacting the card), ``"tpm"`` (the TPM refused the binding key's
    policy) or ``"card"`` (the card refused the quote; the host then found the PCRs changed).
    """

    def __init__(
        self,
        message: str,
        pcrs: tuple[int, ...] = (),
        detected_by: str = "host",
        rc: int | None = None,
        pcr_selection: str = "",
    ) -> None:
        self.pcrs = pcrs
        self.detected_by = detected_by
        super().__init__(message, rc=rc, pcr_selection=pcr_selection)


class TpmAuthError(TpmError):
    """The TPM refused an authorization value (wrong PIN or password). Each failure counts
    towards the TPM's dictionary-attack lockout unless the object has noDA set."""


class TpmLockoutError(TpmError):
    """The TPM is in dictionary-attack lockout and refuses authorizations for a while."""


class TpmFormatError(TpmcardError):
    """A TPM structure or key file is malformed or of a kind this project does not handle.

    ``reason`` is one of ``"truncated"``, ``"trailing"``, ``"malformed"``, ``"algorithm"``,
    ``"unsupported"``.
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        self.reason = reason
        super().__init__(message)


class AttestationError(TpmcardError):
    """A quote or certification failed verification.

    ``reason`` says which check failed: ``"malformed"``, ``"magic"``, ``"type"``, ``"signature"``,
    ``"nonce"``, ``"pcr_selection"``, ``"pcr_digest"``, ``"signer"``, ``"name"``.
    """

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)
