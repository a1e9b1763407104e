"""The mobile TPM's protocol constants: the names and values of
``applets/src/main/java/tpmcard/mtpm/Constants.java`` (``INS_*``, ``KEY_*``, ``P1_*``, ``P2_*``,
``SW_*``, ``NV_ATTRIBUTE_*``), and the sizes the host derives from them.
tests/mtpm/test_constants.py checks them against the Java class, both ways.
"""

from __future__ import annotations

INS_PCR_READ = 0x10
INS_PCR_EXTEND = 0x12
INS_PCR_RESET = 0x14
INS_QUOTE = 0x20
INS_QUOTE_TOKEN = 0x2A  # P1 FORMAT_JWT / FORMAT_EAT (tpmcard.services.quote_formats)
INS_GET_PUBLIC = 0x22
INS_CERTIFY = 0x24
INS_EK_CERT_SET = 0x26
INS_EK_CERT_GET = 0x28
INS_SEAL = 0x30
INS_UNSEAL = 0x32
INS_NV_DEFINE = 0x40
INS_NV_UNDEFINE = 0x42
INS_NV_WRITE = 0x44
INS_NV_READ = 0x46
INS_NV_INCREMENT = 0x48
INS_NV_LIST = 0x4A
INS_TAKE_OWNERSHIP = 0x50
INS_CLEAR = 0x52
INS_GET_STATUS = 0x54
INS_DA_RESET = 0x56
INS_MIGRATE_EXPORT = 0x60
INS_MIGRATE_IMPORT = 0x62
INS_MIGRATION_ANCHOR_SET = 0x64
INS_MIGRATION_ANCHOR_GET = 0x66
# Staging: a command whose data plus answer exceed the service window (docs/mtpm.md).
INS_STAGE_WRITE = 0x70
INS_STAGE_RUN = 0x72
INS_STAGE_READ = 0x74
# Count-limited keys (docs/counted-keys.md, tpmcard.services.counted_keys).
INS_KEY_CREATE = 0x80
INS_KEY_IMPORT = 0x82
INS_KEY_USE = 0x84
INS_KEY_REMAINING = 0x86
INS_KEY_LIST = 0x88
INS_KEY_DELETE = 0x8A

KEY_EK = 0x01
KEY_AK = 0x02
KEY_MIGRATION = 0x03
KEY_ID_LENGTH = 16  # the key id in STATUS (SHA-256 of the storage key, truncated)
P1_MIGRATE_COPY = 0x00
P1_MIGRATE_MOVE = 0x01
P2_OBJECT_SEALED = 0x01
P2_OBJECT_NV = 0x02
P2_OBJECT_COUNTED_KEY = 0x03  # never migratable: MIGRATE EXPORT answers SW_NOT_MIGRATABLE
KEY_KIND_ECDSA_P256 = 0x01
KEY_KIND_HMAC_SHA256 = 0x02
KEY_KIND_AES_128 = 0x03
KEY_KIND_AES_256 = 0x04
KEY_OP_SIGN = 0x01
KEY_OP_MAC = 0x02
KEY_OP_ENCRYPT = 0x03
KEY_OP_DECRYPT = 0x04
KEY_HANDLE_TAG = 0x8C  # a counted key's handle: 8C || slot || generation 2
COUNTED_KEY_SLOTS = 8
MAX_HMAC_KEY = 64
#: Largest budget: remaining = hi * 32768 + lo, two 15-bit shorts on the card.
MAX_KEY_BUDGET = 0x3FFFFFFF
P1_SEAL_MIGRATABLE = 0x01
NV_ATTRIBUTE_COUNTER = 0x01
NV_ATTRIBUTE_MIGRATABLE = 0x02
FORMAT_JWT = 0x01
FORMAT_EAT = 0x02

# Migration target certificate (docs/mtpm.md "Migration"): simple TLVs in this order.
TAG_CERT_PURPOSE = 0x80
TAG_CERT_TARGET = 0x81
TAG_CERT_CARD_ID = 0x82
TAG_CERT_SIGNATURE = 0x9E
MIGRATION_TARGET_PURPOSE = b"migration target"
MAX_CERT_CARD_ID = 32
MAX_TARGET_CERT = 193

PCR_COUNT = 24
HOST_PCR_COUNT = 9
RESETTABLE_PCRS = (16, 23)
MAX_NONCE = 64
MIN_TOKEN_NONCE = 8  # JWT and EAT quotes: eat_nonce is 8..64 bytes (RFC 9711)
MAX_AUTH = 32
MAX_SEALED_SECRET = 128
MAX_NV_SIZE = 256
COUNTER_SIZE = 8
MAX_EK_CERT = 1024
#: Largest staged command data or answer (Constants.STAGE_CAPACITY).
STAGE_CAPACITY = 1088
#: PCR READ, QUOTE and UNSEAL: the card writes each host PCR to the window's last 32 bytes.
PCR_SLOT_LENGTH = 32
PUBLIC_AREA_LENGTH = 88
# Upper bounds of answers (docs/mtpm.md): DER ECDSA signature 72, TPMS_ATTEST of a quote 113 +
# the nonce and of a certification 205, each after a 2-byte length.
_QUOTE_ANSWER = 2 + 113 + 72  # + the nonce
_CERTIFY_ANSWER = 2 + 205 + 72
_STATUS_ANSWER = 30
_NV_LIST_ANSWER = 7 * 8
_SEALED_BLOB_MAX = 61 + 176 + 16
_DUPLICATE_MAX = 75 + 352 + 16

SW_NO_ERROR = 0x9000
SW_AUTH_FAILED = 0x6982
SW_OWNER_AUTH_BLOCKED = 0x6983
SW_AUTH_BLOCKED = SW_OWNER_AUTH_BLOCKED  # also the lockout of sealed-object and NV auth values
SW_OBJECT_INVALID = 0x6984
SW_POLICY_MISMATCH = 0x6985
SW_HOST_PCR_READ_ONLY = 0x6986
SW_NV_TYPE_MISMATCH = 0x6981
SW_WRONG_DATA = 0x6A80
SW_OWNER_REQUIRED = 0x6A82
SW_UNTRUSTED_TARGET = 0x6A85
SW_NOT_MIGRATABLE = 0x6A87
SW_PCR_NOT_RESETTABLE = 0x6A81
SW_NOT_ENOUGH_MEMORY = 0x6A84
SW_INCORRECT_P1P2 = 0x6A86
SW_NOT_FOUND = 0x6A88
SW_ALREADY_EXISTS = 0x6A89
SW_OUT_OF_RANGE = 0x6B00
SW_STAGE_OUT_OF_ORDER = 0x6A83
SW_INS_NOT_SUPPORTED = 0x6D00
SW_WRONG_LENGTH = 0x6700
SW_OWNER_AUTH_FAILED = 0x63C0
SW_KEY_EXHAUSTED = SW_OBJECT_INVALID  # a counted key with no use left (reference data not usable)
SW_KEY_KIND_MISMATCH = SW_NV_TYPE_MISMATCH  # a counted key of another kind than the operation

#: TPM_RH_ENDORSEMENT (Part 2 §7.4): the card's keys are primary keys of the endorsement hierarchy.
RH_ENDORSEMENT = 0x4000000B

_REASONS: dict[int, tuple[str, str]] = {
    SW_AUTH_FAILED: ("auth", "the auth value is wrong"),
    SW_OWNER_AUTH_BLOCKED: (
        "blocked",
        "blocked after too many wrong values: the owner auth for good; sealed-object and NV auth "
        "values until the owner resets the lockout (`tpmcard mtpm owner da-reset`)",
    ),
    SW_OBJECT_INVALID: ("invalid_object", "the object was altered, or moved away from this card"),
    SW_POLICY_MISMATCH: ("policy", "the PCRs do not match the object's policy"),
    SW_HOST_PCR_READ_ONLY: ("host_pcr", "PCRs 0..8 are the host TPM's: extend them on the host"),
    SW_NV_TYPE_MISMATCH: ("nv_type", "the NV index is of the other kind (counter vs. data)"),
    SW_WRONG_DATA: ("malformed", "the card refused the data as malformed"),
    SW_OWNER_REQUIRED: (
        "no_owner",
        "the mobile TPM has no owner; DA reset, migration and auth values need one: take "
        "ownership first (`tpmcard mtpm owner take`)",
    ),
    SW_UNTRUSTED_TARGET: (
        "untrusted_target",
        "the migration target is not certified by the migration CA this card trusts: certify "
        "it (`tpmcard ca certify-target`) with the CA installed here (`tpmcard mtpm migrate "
        "trust`)",
    ),
    SW_NOT_MIGRATABLE: (
        "not_migratable",
        "the object may not leave this card: it was not sealed (or defined) --migratable, or "
        "a counter was to be copied (counters only move: --move)",
    ),
    SW_PCR_NOT_RESETTABLE: ("not_resettable", "only PCR 16 and 23 can be reset"),
    SW_NOT_ENOUGH_MEMORY: ("full", "the card has no room left (NV slots or revocation list)"),
    SW_INCORRECT_P1P2: ("parameter", "index or key reference out of range"),
    SW_NOT_FOUND: (
        "not_found",
        "not found on this card (NV handle, EK certificate, or another card's blob)",
    ),
    SW_ALREADY_EXISTS: ("exists", "already exists (NV handle defined, or the card is owned)"),
    SW_OUT_OF_RANGE: ("range", "offset or length outside the NV index"),
    SW_STAGE_OUT_OF_ORDER: ("staging", "a staged command was interrupted: send it again"),
    SW_WRONG_LENGTH: ("length", "a field has the wrong length"),
    SW_INS_NOT_SUPPORTED: ("unsupported", "the card's mobile TPM does not know this command"),
}
