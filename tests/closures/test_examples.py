"""The example closures (docs/closures.md "Examples") end to end over both transports: the shipped
sources through the assembler, sealed to the card, run through ``session.closures`` inside the
secure session (``bound_card`` / ``secure_session``: the in-process simulator and PC/SC, with
swtpm), against the RFCs' tables and ``cryptography``; the PCR gate against the live host and
card PCRs; refusals with their status words while the session goes on.

The card is the module's (``bound_card``): each test removes what it loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from tpmcard.services.closures import assemble
from tpmcard.services.closures import examples as E
from tpmcard.services.closures.session import ClosureError
from tpmcard.services.counted_keys import CountedKeyError, KeyKind
from tpmcard.services.session import SecureCardSession

#: tests/vectors/closure_examples.json: the RFCs' tables, as JUnit ClosureExamplesTest reads them.
VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "closure_examples.json").read_text())
RFC4226_CODES: list[str] = VECTORS["hotp"]["codes"]
TOTP_SHA1 = [(int(v["time"]), v["code"]) for v in VECTORS["totp"]["vectors"]]
TOTP_SHA256 = [(int(v["time"]), v["code"]) for v in VECTORS["totp256"]["vectors"]]
RFC_KEY = b"12345678901234567890"
RFC_KEY_SHA256 = b"12345678901234567890123456789012"


@pytest.fixture
def tpm2_tool(bound_card: object) -> Callable[..., str]:
    """Stock tpm2-tools on the test TPM (TPM2TOOLS_TCTI); returns stdout."""
    env = dict(os.environ, TPM2TOOLS_TCTI=bound_card.tcti)  # type: ignore[attr-defined]

    def run(*argv: str) -> str:
        return subprocess.run(
            list(argv), env=env, check=True, capture_output=True, text=True, timeout=60
        ).stdout

    return run


def test_hotp_gives_rfc_4226_appendix_d_and_never_the_same_code_twice(
    secure_session: SecureCardSession,
) -> None:
    closures = secure_session.closures
    closures.load(assemble(E.source("hotp")))
    try:
        codes = [closures.run("hotp").decode() for _ in range(10)]
        assert codes == RFC4226_CODES
        reference = HOTP(RFC_KEY, 6, SHA1())  # noqa: S303 (RFC 4226 is HMAC-SHA-1)
        assert codes == [reference.generate(c).decode() for c in range(10)]
        assert closures.store("hotp") == (8, 8)  # the counter: 8 bytes of its store in use
    finally:
        closures.remove("hotp")


def test_hotp_counter_goes_on_in_the_next_session_and_another_key_works(
    bound_card: object,
) -> None:
    key = os.urandom(20)
    with bound_card.connect() as session:  # type: ignore[attr-defined]
        session.closures.load(assemble(E.source("hotp", KEY=key, DIGITS=8)))
        try:
            first = session.closures.run("hotp")
        except BaseException:
            session.closures.remove("hotp")
            raise
    with bound_card.connect() as session:  # type: ignore[attr-defined]
        try:
            second = session.closures.run("hotp")
        finally:
            session.closures.remove("hotp")
    reference = HOTP(key, 8, SHA1())  # noqa: S303
    assert (first, second) == (reference.generate(0), reference.generate(1))


@pytest.mark.parametrize(
    ("name", "key", "algorithm", "table"),
    [("totp", RFC_KEY, SHA1, TOTP_SHA1), ("totp256", RFC_KEY_SHA256, SHA256, TOTP_SHA256)],
)
def test_totp_gives_rfc_6238_appendix_b(
    secure_session: SecureCardSession, name: str, key: bytes, algorithm: type, table: list
) -> None:
    closures = secure_session.closures
    sealed = closures.seal(assemble(E.source(name)))
    for time, code in table:
        assert closures.run_image(sealed, time.to_bytes(8, "big")).decode() == code
    reference = TOTP(key, 8, algorithm(), 30)
    for time in (0, 29, 30, 1_700_000_000, 2**40 + 12345):
        got = closures.run_image(sealed, time.to_bytes(8, "big"))
        assert got == reference.generate(time), time
    with pytest.raises(ClosureError) as err:  # not 8 bytes of time
        closures.run_image(sealed, b"\x00" * 4)
    assert err.value.fail_code == 1
    # The same closure loaded, by name, with another period and key.
    own = os.urandom(32)
    closures.load(assemble(E.source(name, KEY=own, PERIOD=60, DIGITS=6)))
    try:
        now = 1_765_000_000
        assert closures.run(name, now.to_bytes(8, "big")) == TOTP(own, 6, algorithm(), 60).generate(
            now
        )
    finally:
        closures.remove(name)


def test_pcr_gate_releases_only_for_the_combined_view_it_was_built_for(
    bound_card: object, tpm2_tool: Callable[..., str]
) -> None:
    indices = (0, 7, 8, 23)  # host 0, 7, 8 as the quote proved them; card 23 (resettable)
    secret = os.urandom(24)
    with bound_card.connect() as session:  # type: ignore[attr-defined]
        view = session.mtpm.pcr_read(range(24))
        assert all(view[i] == session.host_pcrs[i] for i in range(9))
        gate = session.closures.seal(
            assemble(
                E.source(
                    "pcrgate",
                    INDICES=indices,
                    EXPECTED=E.pcr_policy_digest(view, indices),
                    SECRET=secret,
                )
            )
        )
        assert session.closures.run_image(gate) == secret
        session.mtpm.extend(23, os.urandom(32))  # the card's PCR 23 moves: refused
        with pytest.raises(ClosureError) as err:
            session.closures.run_image(gate)
        assert err.value.fail_code == 1 and err.value.sw == 0x6401
        session.mtpm.pcr_reset(23)  # and back
        assert session.closures.run_image(gate) == secret
        # Host PCR 8 moves on the TPM: this session keeps what its quote proved ...
        tpm2_tool("tpm2_pcrextend", f"8:sha256={os.urandom(32).hex()}")
        assert session.closures.run_image(gate) == secret
    # ... the next session's quote shows the new value: refused.
    with bound_card.connect() as session:  # type: ignore[attr-defined]
        with pytest.raises(ClosureError) as err:
            session.closures.run_image(gate)
        assert err.value.fail_code == 1
        assert session.core.echo(b"still here") == b"still here"
        # A gate built for the new view releases again.
        view = session.mtpm.pcr_read(range(24))
        again = assemble(
            E.source(
                "pcrgate", INDICES=indices, EXPECTED=E.pcr_policy_digest(view, indices),
                SECRET=secret,
            )
        )  # fmt: skip
        assert session.closures.run_image(again) == secret


def test_altered_example_images_are_refused_and_the_session_goes_on(
    secure_session: SecureCardSession,
) -> None:
    closures = secure_session.closures
    sealed = bytearray(closures.seal(assemble(E.source("totp"))))
    sealed[60] ^= 0x01  # a byte of the encrypted code (the key is in it)
    with pytest.raises(ClosureError) as err:
        closures.run_image(bytes(sealed), bytes(8))
    assert err.value.sw == 0x6984
    renamed = bytearray(closures.seal(assemble(E.source("totp"))))
    renamed[17] ^= 0x20  # the name in the header, under the MAC ("totp" -> "Totp")
    with pytest.raises(ClosureError) as err:
        closures.load(bytes(renamed))
    assert err.value.sw == 0x6984
    assert closures.list() == []
    assert secure_session.core.echo(b"ok") == b"ok"


def tpm_clock(tpm2_tool: Callable[..., str]) -> int:
    lines = [line for line in tpm2_tool("tpm2_readclock").splitlines() if "clock:" in line]
    return int(lines[-1].split(":")[1].split("#")[0])


def test_rate_limited_signer_limits_signatures_per_epoch_of_tpm_clock(
    bound_card: object, tpm2_tool: Callable[..., str]
) -> None:
    """LIMIT signatures per epoch, verified with ``cryptography``; the next refused (6401) at no
    charge; the key unusable around the closure (its auth value is the closure's); then the
    TPM's owner moves Clock one PERIOD forward (TPM2_ClockSet, empty owner auth on swtpm) and
    the next session gets LIMIT more: the documented limit of a TPM-Clock rate limit."""
    limit, period = 3, 3600
    owner, key_auth = os.urandom(16), os.urandom(16)
    message = hashlib.sha256(b"pay 10 to bob").digest()
    with bound_card.connect() as session:  # type: ignore[attr-defined]
        session.mtpm.take_ownership(owner)
        keys = session.counted_keys
        key = keys.create(KeyKind.ECDSA_P256, uses=50, auth=key_auth, owner_auth=owner)
    try:
        for round_ in range(2):
            with bound_card.connect() as session:  # type: ignore[attr-defined]
                if round_ == 0:
                    image = E.source(
                        "ratesign", LIMIT=limit, PERIOD=period, HANDLE=key.handle,
                        KEYAUTH=key_auth,
                    )  # fmt: skip
                    session.closures.load(assemble(image), owner_auth=owner)
                epoch = session.host_clock.clock // 1000 // period
                for i in range(1, limit + 1):
                    out = session.closures.run("ratesign", message)
                    assert int.from_bytes(out[:2], "big") == i
                    key.public_key.verify(out[2:], message, ec.ECDSA(hashes.SHA256()))
                with pytest.raises(ClosureError) as err:
                    session.closures.run("ratesign", message)
                assert err.value.fail_code == 1
                with pytest.raises(CountedKeyError) as refused:  # around the closure: no auth
                    session.counted_keys.sign(key.handle, message)
                assert refused.value.sw == 0x6982
                assert session.counted_keys.remaining(key.handle).remaining == 50 - limit * (
                    round_ + 1
                )
            # The TPM's owner moves the Clock one epoch forward: a new budget for the next session.
            tpm2_tool("tpm2_setclock", str(tpm_clock(tpm2_tool) + period * 1000))
            with bound_card.connect() as later:  # type: ignore[attr-defined]
                assert later.host_clock.clock // 1000 // period > epoch
    finally:
        with bound_card.connect() as session:  # type: ignore[attr-defined]
            if "ratesign" in [c.name for c in session.closures.list()]:
                session.closures.remove("ratesign", owner_auth=owner)
            session.mtpm.clear(owner)  # the key and the owner go; the card is as the module had it
