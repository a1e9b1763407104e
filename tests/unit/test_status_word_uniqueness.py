"""Each status word of an applet means one thing: two names for one value are allowed only where
the docs say the two are the same answer (an alias), or where the commands that answer them are
disjoint. A merge once gave 6A87 both to "not migratable" and to "staging out of order", and the
host then told the user the wrong thing."""

from __future__ import annotations

import collections
from types import ModuleType

import pytest
from tpmcard import constants
from tpmcard.services import mtpm_constants
from tpmcard.services.closures import constants as closure_constants

# value -> the names that may share it, with the reason.
ALLOWED: dict[str, dict[int, set[str]]] = {
    "tpmcard.services.mtpm_constants": {
        0x6983: {"SW_OWNER_AUTH_BLOCKED", "SW_AUTH_BLOCKED"},  # one lockout answer
        # KEY USE answers only the counted-key names; UNSEAL, MIGRATE and NV commands only the
        # others: disjoint commands (docs/counted-keys.md).
        0x6984: {"SW_OBJECT_INVALID", "SW_KEY_EXHAUSTED"},
        0x6981: {"SW_NV_TYPE_MISMATCH", "SW_KEY_KIND_MISMATCH"},
    },
    "tpmcard.services.closures.constants": {},
    "tpmcard.constants": {
        # PAIR without a CA key is ISO "referenced data not found" (docs/binding.md).
        0x6A88: {"SW_REFERENCED_DATA_NOT_FOUND", "SW_CA_KEY_MISSING"},
        # 6985 answers PAIR (AK certificate) and PUT DATA (CA key present): disjoint commands.
        0x6985: {"SW_AK_CERTIFICATE_REFUSED", "SW_CA_KEY_PRESENT"},
    },
}


@pytest.mark.parametrize(
    "module", [mtpm_constants, closure_constants, constants], ids=lambda m: m.__name__
)
def test_one_meaning_per_status_word(module: ModuleType) -> None:
    names: dict[int, set[str]] = collections.defaultdict(set)
    for name, value in vars(module).items():
        if name.startswith("SW_") and isinstance(value, int) and not isinstance(value, bool):
            names[value].add(name)
    shared = {value: group for value, group in names.items() if len(group) > 1}
    assert shared == ALLOWED[module.__name__]


def test_closure_status_words_keep_off_the_mobile_tpms() -> None:
    """The closures answer inside the mobile TPM: their SWs are new values, except 6A85, which
    only SEAL CLOSURE answers (untrusted authority) and only MIGRATE EXPORT the other way
    (untrusted target): disjoint commands (docs/closures.md)."""
    mtpm = {
        v for n, v in vars(mtpm_constants).items() if n.startswith("SW_") and isinstance(v, int)
    }
    closures = {
        v for n, v in vars(closure_constants).items() if n.startswith("SW_") and isinstance(v, int)
    }
    assert mtpm & closures == {0x6A85}
