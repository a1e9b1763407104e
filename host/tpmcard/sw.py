"""Status words (ISO 7816-4 §5.6): their names and descriptions, below every layer.

:mod:`tpmcard.errors` describes the status word of an :class:`~tpmcard.errors.ApduError` with
:func:`describe_sw`; :mod:`tpmcard.apdu` re-exports :class:`SW` beside the codec.
"""

from __future__ import annotations

import enum

__all__ = ["SW", "describe_sw", "sw_family"]


class SW(enum.IntEnum):
    """Status words (ISO 7816-4 §5.6) that the suite uses. Families are given by their base."""

    SUCCESS = 0x9000
    BYTES_REMAINING = 0x6100  # 61xx: xx more bytes with GET RESPONSE
    WARNING_NVM_UNCHANGED = 0x6200
    VERIFY_FAILED = 0x63C0  # 63Cx: x tries left
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    LAST_COMMAND_EXPECTED = 0x6883
    COMMAND_CHAINING_NOT_SUPPORTED = 0x6884
    COMMAND_NOT_ALLOWED = 0x6900
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTHENTICATION_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    SM_DATA_MISSING = 0x6987
    SM_DATA_INCORRECT = 0x6988
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    CORRECT_LENGTH = 0x6C00  # 6Cxx: resend with Le = xx
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    UNKNOWN = 0x6F00


_FAMILIES = {0x61: SW.BYTES_REMAINING, 0x6C: SW.CORRECT_LENGTH}

_DESCRIPTIONS = {
    SW.SUCCESS: "success",
    SW.BYTES_REMAINING: "more response bytes available",
    SW.WARNING_NVM_UNCHANGED: "warning, non-volatile memory unchanged",
    SW.VERIFY_FAILED: "verification failed",
    SW.MEMORY_FAILURE: "memory failure",
    SW.WRONG_LENGTH: "wrong length",
    SW.LOGICAL_CHANNEL_NOT_SUPPORTED: "logical channel not supported",
    SW.SECURE_MESSAGING_NOT_SUPPORTED: "secure messaging not supported",
    SW.LAST_COMMAND_EXPECTED: "last command of the chain expected",
    SW.COMMAND_CHAINING_NOT_SUPPORTED: "command chaining not supported",
    SW.COMMAND_NOT_ALLOWED: "command not allowed",
    SW.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW.AUTHENTICATION_METHOD_BLOCKED: "authentication method blocked",
    SW.REFERENCE_DATA_NOT_USABLE: "reference data not usable",
    SW.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    SW.SM_DATA_MISSING: "expected secure messaging data objects missing",
    SW.SM_DATA_INCORRECT: "incorrect secure messaging data objects",
    SW.WRONG_DATA: "incorrect data",
    SW.FUNCTION_NOT_SUPPORTED: "function not supported",
    SW.FILE_NOT_FOUND: "file or application not found",
    SW.RECORD_NOT_FOUND: "record not found",
    SW.NOT_ENOUGH_MEMORY: "not enough memory",
    SW.INCORRECT_P1P2: "incorrect P1-P2",
    SW.REFERENCED_DATA_NOT_FOUND: "referenced data not found",
    SW.WRONG_P1P2: "wrong P1-P2",
    SW.CORRECT_LENGTH: "wrong Le",
    SW.INS_NOT_SUPPORTED: "instruction not supported",
    SW.CLA_NOT_SUPPORTED: "class not supported",
    SW.UNKNOWN: "no precise diagnosis",
}


def sw_family(sw: int) -> SW | None:
    """The :class:`SW` member naming ``sw`` or its family (61xx, 63Cx, 6Cxx), if any."""
    try:
        return SW(sw)
    except ValueError:
        pass
    if (sw >> 8) in _FAMILIES:
        return _FAMILIES[sw >> 8]
    if sw & 0xFFF0 == 0x63C0:
        return SW.VERIFY_FAILED
    return None


def describe_sw(sw: int) -> str:
    """A short human description of a status word."""
    family = sw_family(sw)
    if family is None:
        return "unknown status"
    text = _DESCRIPTIONS[family]
    if family is SW.VERIFY_FAILED:
        return f"{text}, {sw & 0x0F} tries left"
    if family in (SW.BYTES_REMAINING, SW.CORRECT_LENGTH):
        return f"{text} ({sw & 0xFF})"
    return text
