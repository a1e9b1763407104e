"""The exception tree of tpmcard.

Every error the library raises derives from :class:`TpmcardError`. Messages tell the user what to
do next; structured fields (``sw``, ``rc``, ``attempts_remaining``) are what code and tests use.
"""

from __future__ import annotations

from tpmcard.sw import describe_sw


class TpmcardError(Exception):
    """Base class of every tpmcard error."""


class TransportError(TpmcardError):
    """The card could not be reached, or the link to it broke."""


class NoReaderError(TransportError):
    """No reader matches the request, or the PC/SC service has no readers at all."""


class NoCardError(TransportError):
    """The reader is present but holds no card."""


class CardRemovedError(TransportError):
    """The card was removed or reset while a command was in flight.

    The command may or may not have run on the card; the session must be reopened.
    """


class SimulatorError(TransportError):
    """The in-process simulator cannot start: no JVM, no jars, or a corrupt card store.

    ``kind`` is a stable code: ``not_built`` (no jars: run ``gradle assemble``), ``no_jvm``,
    ``locked`` (another process has the card), ``corrupt``, ``incompatible``, ``manifest``,
    ``not_persistable``, ``io``, ``card``, ``profile`` (an unknown card profile, one other than
    the card's, or a package the profile cannot load), ``power_loss`` (a simulated power cut ended
    the command: ``JCardSimConnection.cut_power_at_write``), or ``other``.
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        self.kind = kind
        super().__init__(message)


class ApduError(TpmcardError):
    """The card answered with a status word other than 9000.

    Raised in exactly one place (:func:`tpmcard.apdu.check_status`).
    """

    def __init__(self, sw: int, data: bytes = b"", message: str | None = None) -> None:
        self.sw = sw
        self.data = data
        super().__init__(message or f"card answered SW={sw:04X} ({describe_sw(sw)})")


class ProtocolError(TpmcardError):
    """The card's answer is malformed: truncated, wrong TLV, wrong length."""


class ChannelError(TpmcardError):
    """The secure channel could not be opened, or it failed and was dropped."""


class NotPairedError(ChannelError):
    """This host holds no pairing for the card (or for any card): run ``tpmcard pair``."""


class PairingTableFullError(ChannelError):
    """Every slot of the card's pairing table is taken: unpair a host first (``tpmcard unpair``)."""


class AlreadyPairedError(ChannelError):
    """This host (its binding key, or its pairing record) is already paired with the card: pair
    again with ``--replace`` (new keys) or ``--update-policy`` (an approved PCR change)."""


class WrongCardError(ChannelError):
    """The card is not the one this host is paired with: another card id, or the card's identity
    key differs from the one pinned at pairing. ``card_id`` is the card's, ``expected`` the card
    ids this host is paired with."""

    def __init__(
        self, message: str, card_id: bytes | None = None, expected: tuple[bytes, ...] = ()
    ) -> None:
        self.card_id = card_id
        self.expected = expected
        super().__init__(message)


class PairingRemovedError(ChannelError):
    """The card no longer holds this host's pairing (unpaired from this or another host, or the
    card was reset). ``slot`` is the slot the pairing had."""

    def __init__(self, message: str, slot: int | None = None) -> None:
        self.slot = slot
        super().__init__(message)


class SessionRefusedError(ChannelError):
    """The card refused the session handshake (its one uniform answer, docs/binding.md §6), or
    failed to prove itself, although it still lists this host's pairing and the host's PCRs
    match it: a message was altered on the way, or the evidence (quote, AK) was not the paired
    TPM's."""


class InvalidPinError(TpmcardError):
    """A PIN was refused. ``attempts_remaining`` is 0 when the PIN is now blocked."""

    def __init__(self, attempts_remaining: int, message: str | None = None) -> None:
        self.attempts_remaining = attempts_remaining
        super().__init__(
            message
            or (
                f"wrong PIN: {attempts_remaining} tries left"
                if attempts_remaining
                else "wrong PIN: the PIN is now blocked; unblock it with the PUK"
            )
        )


class PinBlockedError(InvalidPinError):
    """The PIN is blocked; it must be unblocked before use."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(0, message or "the PIN is blocked; unblock it with the PUK")


class DefaultPinError(TpmcardError):
    """The card refuses to pair while its PIN or PUK is still the factory default (anyone who
    holds the card knows those): the owner changes both first."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the card still has its factory-default PIN or PUK and refuses to pair until "
            "both are changed: run `tpmcard pin change` and `tpmcard pin change --puk`"
        )


class TpmError(TpmcardError):
    """The TPM refused an operation, or cannot be reached.

    ``rc`` is the TPM response code where the TPM gave one.
    """

    def __init__(self, message: str, rc: int | None = None) -> None:
        self.rc = rc
        super().__init__(message)


# --- the TPM layer's errors, told apart by code above it (no TSS library needed to catch them)


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


class AttestVerificationError(TpmcardError):
    """A quote or certification failed verification.

    ``reason`` says which check failed: ``"malformed"``, ``"magic"``, ``"type"``, ``"signature"``,
    ``"nonce"``, ``"pcr_selection"``, ``"pcr_digest"``, ``"signer"``, ``"name"``.
    """

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class NotSupportedError(TpmcardError):
    """The card, reader or TPM lacks a feature the operation needs."""


class AttestationError(TpmcardError):
    """The host TPM's attestation key could not be rooted in a genuine TPM (docs/binding.md §8)."""


class EkCertificateError(AttestationError):
    """The TPM's EK certificate is missing, malformed, or chains to no configured EK root."""


class CredentialActivationError(AttestationError):
    """The TPM did not recover the attestation CA's credential: the AK and the certified EK are
    not in the same TPM."""


class CardNotPersonalisedError(ChannelError):
    """The card holds no attestation CA key, so it refuses every PAIR: personalise it with
    ``tpmcard ca install``."""


class AkCertificateRefusedError(ChannelError):
    """The card refused the AK certificate: not signed by the CA key installed on the card, or
    not for this AK (another CA, a tampered certificate, another host's certificate)."""


class PcrPolicyError(TpmcardError, ValueError):
    """A PCR policy names PCRs that cannot bind a pairing (resettable PCRs 16 and 23)."""


class ServiceWindowError(NotSupportedError):
    """An INVOKE's data plus its answer do not fit the card's service window (SELECT tag 85,
    docs/core-applet.md "Service contract"): split the data, or use a streaming call."""

    def __init__(self, needed: int, window: int, what: str = "this command") -> None:
        self.needed = needed
        self.window = window
        super().__init__(
            f"{what} needs {needed} bytes of the card's service window, which holds {window} "
            "(data and answer share the card's APDU buffer); send less data per command"
        )
