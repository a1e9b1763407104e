"""The crypto and the checks of ``tpmcard demo``: what it asks of the card and how it verifies it.

Each tour runs against an open service session and tells what happens through ``say`` (one line
of narration at a time); the CLI (:mod:`tpmcard.cli.info`) supplies the printing. Every check
that fails raises :class:`~tpmcard.errors.TpmcardError`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable

from tpmcard.errors import TpmcardError
from tpmcard.services.algorithms import (
    AID_HMAC,
    AID_HMAC_V2,
    KEY_HMAC_SHA256,
    STATE_ENABLED,
    Algorithms,
    KeyNotFoundError,
    ProviderInfo,
)
from tpmcard.services.mtpm import KEY_AK, MtpmError, MtpmSession, endorsement_qualified_name
from tpmcard.services.verify import verify_certified_key
from tpmcard.tpm.attest import verify_quote

#: The combined PCRs the demo reads and quotes: host PCRs 0, 1, 8 and card PCRs 9, 10.
DEMO_PCRS = (0, 1, 8, 9, 10)

Say = Callable[[str], None]
ShowPcrs = Callable[[str, dict[int, bytes]], None]
ShowProviders = Callable[[str, list[ProviderInfo]], None]


def echo_check(echo: Callable[[bytes], bytes], sizes: Iterable[int], step: int = 7) -> None:
    """ECHO a patterned payload of each size; raise if one comes back altered."""
    for size in sizes:
        data = bytes((i * step) & 0xFF for i in range(size))
        if echo(data) != data:
            raise TpmcardError(f"ECHO of {size} bytes came back altered")


def mtpm_tour(m: MtpmSession, say: Say, show_pcrs: ShowPcrs) -> None:
    """Read, extend and quote the combined PCRs; verify the quote and the AK's certification
    on the host; seal to PCR 10, unseal, extend PCR 10 again and check unseal is refused."""
    show_pcrs(
        "Combined PCRs (0-8 the host's, 9-23 the card's; card PCRs are zero after power-up)",
        m.pcr_read(DEMO_PCRS),
    )
    measurement = hashlib.sha256(b"tpmcard demo: application loaded").digest()
    say(f"   PCR 10 extended with SHA-256(\"...application loaded\"): "
        f"{m.extend(10, measurement).hex()[:16]}...")  # fmt: skip
    nonce = os.urandom(16)
    quote = m.quote(DEMO_PCRS, nonce)
    ak, ek = m.ak_public(), m.ek_public()
    certification = m.certify(KEY_AK, nonce)
    verify_certified_key(certification.attest, certification.signature_der, ak, ek, nonce)
    parsed = verify_quote(
        quote.attest,
        quote.signature_der,
        ak.public_key(),
        nonce,
        quote.pcr_values,
        expected_qualified_signer=endorsement_qualified_name(ak.name),
    )
    say(
        f"   Quote of PCRs {quote.pcr_selection} with a fresh nonce {nonce.hex()[:16]}...: "
        f"verified on the host (EK certifies the AK, AK signature, nonce, signer, PCR digest; "
        f"card clock {parsed.clock_info.clock})."
    )
    secret = b"disk key for this application"
    blob = m.seal(secret, [10])
    say(f"   Sealed {len(secret)} bytes to PCR 10: a {len(blob)}-byte blob kept on the host.")
    if m.unseal(blob) != secret:
        raise TpmcardError("the mobile TPM unsealed something else than it sealed")
    say("   Unsealed while PCR 10 holds that value: ok.")
    m.extend(10, hashlib.sha256(b"tpmcard demo: something else ran").digest())
    try:
        m.unseal(blob)
    except MtpmError as exc:
        if exc.reason != "policy":
            raise
        say(f"   PCR 10 extended again; unseal refused, as it must be: [yellow]{exc}[/]")
    else:
        raise TpmcardError("the mobile TPM unsealed after the PCR changed")


def algorithms_tour(alg: Algorithms, say: Say, show_providers: ShowProviders) -> bool:
    """HMAC by provider v1, replaced by v2 (REGISTER), v1 withdrawn and restored; checks each
    MAC against the host's. True if the registry ends as the tour found it."""
    found = {p.aid: p.state for p in alg.list()}
    show_providers("Providers in the card's registry", alg.list())
    material = os.urandom(32)
    message = b"tpmcard demo message"
    expected = hmac.new(material, message, "sha256").digest()
    old = alg.import_key(KEY_HMAC_SHA256, material)  # wrapped to the provider's key
    if alg.mac(old, message) != expected:
        raise TpmcardError("HMAC v1 disagrees with the host")
    say(f"   HMAC-SHA-256 with a card-held key (imported wrapped) by v1: "
        f"{expected.hex()[:16]}..., equal to the host's.")  # fmt: skip
    say("   Replacing HMAC v1 by v2 (a new applet, installed beside v1): REGISTER v2.")
    try:
        info = alg.register(AID_HMAC_V2)
        show_providers("Registry after REGISTER v2", alg.list())
        version = f"{info.version[0]}.{info.version[1]}" if info.version else "?"
        new = alg.import_key(KEY_HMAC_SHA256, material)  # keys do not move between versions
        if alg.mac(new, message) != expected:
            raise TpmcardError("HMAC v2 disagrees with the host")
        say(f"   HMAC now served by v{version}, key re-imported: same MAC.")
        alg.unregister(AID_HMAC)
        try:
            alg.mac(old, message)
        except KeyNotFoundError as exc:
            say(f"   v1 withdrawn (UNREGISTER); its old key handle: [yellow]{exc}[/]")
        else:
            raise TpmcardError("v1's key handle still answered after v1 was withdrawn")
        alg.delete_key(new)
        alg.register(AID_HMAC)  # restore v1: enabled again, v2 disabled
    except BaseException:
        alg.register(AID_HMAC)  # leave the card serving HMAC by v1, as the demo found it
        raise
    alg.delete_key(old)
    if found.get(AID_HMAC_V2) is None:
        alg.unregister(AID_HMAC_V2)
    elif found[AID_HMAC_V2] == STATE_ENABLED:
        alg.enable(AID_HMAC_V2)
    if found.get(AID_HMAC) != STATE_ENABLED and AID_HMAC in found:
        alg.disable(AID_HMAC)
    return {p.aid: p.state for p in alg.list()} == found
