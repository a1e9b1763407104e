"""Mirrors of applets/src/main/java/tpmcard/core/Constants.java, names identical.

One module for the whole core applet: transport (SELECT, GET DATA, ECHO) and the TPM-card
binding (docs/binding.md). tests/sim/test_constants.py reads the Java class through JPype and
checks that every public Java name is here with the same value, and nothing else is.
"""

from __future__ import annotations

VERSION_MAJOR = 1
VERSION_MINOR = 0

CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80
CLA_CHAINING_BIT = 0x10

INS_SELECT = 0xA4
INS_GET_RESPONSE = 0xC0
INS_GET_DATA = 0xCA
INS_ECHO = 0xEE

P1_NONE = 0x00
P2_NONE = 0x00
P1_SELECT_BY_NAME = 0x04

DO_IDENTITY_KEY = 0x7F49

TAG_INFO_TEMPLATE = 0xA1
TAG_CARD_ID = 0x80
TAG_APPLET_VERSION = 0x81
TAG_FEATURES = 0x82
TAG_MAX_COMMAND = 0x83
TAG_MAX_RESPONSE = 0x84
TAG_SERVICE_WINDOW = 0x85
TAG_PUBLIC_KEY = 0x7F49
TAG_EC_POINT = 0x86

FEATURE_EXTENDED_LENGTH = 0x0001
FEATURE_COMMAND_CHAINING = 0x0002
FEATURE_RESPONSE_CHAINING = 0x0004
FEATURE_COMMAND_BUFFER_IN_RAM = 0x0008
FEATURE_RESPONSE_BUFFER_IN_RAM = 0x0010
FEATURE_IDENTITY_KEY_DERIVED = 0x0020

CARD_ID_LENGTH = 16
# The largest command/response data field of any command: a protected 4096-byte payload
# (SM_MAX_PAYLOAD + SM_OVERHEAD). Unprotected commands take at most MAX_PLAIN_DATA.
MAX_COMMAND_DATA = 4120
MAX_RESPONSE_DATA = 4120
MAX_PLAIN_DATA = 4096
SHORT_RESPONSE_CHUNK = 256
EXTENDED_RESPONSE_CHUNK = 32767
EC_POINT_LENGTH = 65
EC_SCALAR_LENGTH = 32
MAX_INSTALL_ENTROPY = 32

SW_LAST_COMMAND_EXPECTED = 0x6883
SW_BYTES_REMAINING_00 = 0x6100
SW_REFERENCED_DATA_NOT_FOUND = 0x6A88

# ---- The TPM-card binding (docs/binding.md) ----

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
#: A command for a suite service, secure messaging only: aidLen | AID | ins | p1 | p2 | payload.
INS_INVOKE = 0x70
INS_PUT_DATA = 0xDA  # CLA 80, P2 PIN/PUK: install the attestation CA key

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
TAG_AK_CERTIFICATE = 0xD1  # the AK certificate's signed part (docs/binding.md "AK certificate")
TAG_AK_CERTIFICATE_SIGNATURE = 0xD2  # the CA's DER ECDSA-SHA-256 over the whole D1 TLV
TAG_CA_KEY = 0xD4  # the attestation CA's public point
TAG_AKC_VERSION = 0x80
TAG_AKC_SERIAL = 0x81
TAG_AKC_AK_POINT = 0x82
TAG_AKC_AK_NAME = 0x83
TAG_AKC_EK_DIGEST = 0x84
TAG_AKC_ISSUED_AT = 0x85
TAG_AKC_NOT_AFTER = 0x86
AK_CERTIFICATE_VERSION = 0x01

# TAG_POLICY_OPTIONS bits.
POLICY_OPTION_AUTH_VALUE = 0x01  # the policy is PolicyPCR then PolicyAuthValue

# Status words.
SW_VERIFY_FAILED = 0x63C0  # | tries remaining
SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982  # every handshake and secure-messaging failure
SW_AUTHENTICATION_METHOD_BLOCKED = 0x6983  # PIN or PUK blocked
SW_NOT_ENOUGH_MEMORY = 0x6A84  # pairing table full
SW_PAIRING_EXISTS = 0x6A89  # this binding key is already paired
SW_PIN_CHANGE_REQUIRED = 0x6984  # PAIR while the PIN or PUK is the factory default
SW_AK_CERTIFICATE_REFUSED = 0x6985  # PAIR: AK certificate not the installed CA's, or not this AK's
SW_CA_KEY_MISSING = 0x6A88  # PAIR before personalisation (no attestation CA key)
SW_CA_KEY_PRESENT = 0x6985  # PUT DATA with the PIN while a CA key is installed (the PUK replaces)

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
INVOKE_MIN_AID_LENGTH = 5  # ISO 7816-5: a RID alone
INVOKE_MAX_AID_LENGTH = 16
INVOKE_HEADER_LENGTH = 4  # aidLen, ins, p1, p2 (the AID apart)
# The service window (docs/core-applet.md "Service contract"): an INVOKE's data plus its answer
# share the card's APDU buffer, at most this much; the card reports its own in SELECT tag 85.
SERVICE_WINDOW_MAX = 1024
# The core applet's I/O buffers (docs/core-applet.md "Buffers and why") and the transient RAM it
# checks for at install ("Transient RAM"); the host needs none of them, they mirror Constants.java.
RAM_IO_LENGTH = 736
RAM_IO_SMALL_LENGTH = 484
RAM_IO_ROOMY = 3072
RAM_ANSWER_RESERVE = 160
PERSISTENT_IO_LENGTH = 4120 + 256
LIST_PAIRINGS_MAX = 3 + 8 * (2 + 81)
TRANSIENT_BYTES = 912
