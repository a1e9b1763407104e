"""Mirrors of applets/src/main/java/tpmcard/core/BindingConstants.java, names identical.

The lead merges both into Constants.java / tpmcard.constants; until then
tests/unit/test_channel_constants.py reads the Java source and checks every name here.
Protocol: docs/binding.md.
"""

from __future__ import annotations

# Class byte: bit 0x04 marks a command protected by secure messaging (ISO 7816-4 §5.4.1,
# "proprietary secure messaging", as GP SCP03 uses it).
CLA_SECURE_MESSAGING = 0x04

# Instructions.
INS_VERIFY = 0x20  # ISO 7816-4 §11.5.6; empty data: retry counter status only
INS_CHANGE_REFERENCE_DATA = 0x24  # ISO 7816-4 §11.5.7, CLA 80, encrypted PIN block
INS_RESET_RETRY_COUNTER = 0x2C  # ISO 7816-4 §11.5.10, CLA 80, encrypted PUK + new PIN
INS_PAIR = 0x50
INS_LIST_PAIRINGS = 0x52
INS_UNPAIR = 0x54
INS_SESSION_INIT = 0x56
INS_SESSION_AUTH = 0x58
INS_SESSION_CLOSE = 0x5A
INS_GET_CHALLENGE = 0x84  # ISO 7816-4 §11.5.3

# P2 of VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER: which secret.
P2_PIN = 0x80
P2_PUK = 0x81

# Tags of the binding commands (private class, ISO 7816-4 §5.2). Fixed order, see docs/binding.md.
TAG_BINDING_PUBLIC = 0xC1
TAG_AK_PUBLIC = 0xC2
TAG_PCR_SELECTION = 0xC3
TAG_POLICY_PCR_DIGEST = 0xC4
TAG_POLICY_OPTIONS = 0xC5
TAG_ATTEST = 0xC6
TAG_SIGNATURE = 0xC7
TAG_PCR_VALUES = 0xC8
TAG_HOST_EPHEMERAL = 0xC9
TAG_PIN_CRYPTOGRAM = 0xCA
TAG_HOST_CRYPTOGRAM = 0xCB
TAG_CARD_EPHEMERAL = 0xCC
TAG_CARD_CRYPTOGRAM = 0xCD
TAG_SLOT = 0xCE
TAG_BINDING_NAME = 0xCF
TAG_SLOT_COUNT = 0xD0
TAG_PAIRING_ENTRY = 0xE1

# TAG_POLICY_OPTIONS bits.
POLICY_OPTION_AUTH_VALUE = 0x01  # the policy is PolicyPCR then PolicyAuthValue

# Status words.
SW_VERIFY_FAILED = 0x63C0  # | tries remaining
SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982  # every handshake and secure-messaging failure
SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983  # PIN or PUK blocked
SW_NOT_ENOUGH_MEMORY = 0x6A84  # pairing table full
SW_PAIRING_EXISTS = 0x6A89  # this binding key is already paired

# Sizes.
PAIRING_SLOTS = 8
CHALLENGE_LENGTH = 32
CRYPTOGRAM_LENGTH = 16
SM_MAC_LENGTH = 8
SM_MAX_PAYLOAD = 4096
SM_OVERHEAD = 16 + SM_MAC_LENGTH  # padding block + MAC
NAME_LENGTH = 34  # TPM2B_NAME payload: nameAlg (SHA-256) || digest
DIGEST_LENGTH = 32
PIN_MIN_LENGTH = 4
PUK_MIN_LENGTH = 8
PIN_MAX_LENGTH = 16
PIN_TRY_LIMIT = 3
PUK_TRY_LIMIT = 5
SESSION_PCR_COUNT = 9  # host PCRs 0..8 the card keeps for the session
