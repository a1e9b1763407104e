"""Attest a launched portable environment and move its key to another card
(docs/portable-environment.md): a quote of PCRs 0-9 with what PCR 8 and 9 must hold, its check
on any host, and the mobile TPM's migration of the sealed content key.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
from collections.abc import Callable, Mapping
from pathlib import Path

from tpmcard.errors import AttestVerificationError
from tpmcard.services.env.format import IMAGE_PCR, LAUNCHER_PCR, EnvError, Header, extend
from tpmcard.services.env.service import (
    ATTESTATION_FILE,
    ATTESTATION_FORMAT,
    ZERO,
    CardSession,
    HostTpm,
    atomic_output,
    check_policy,
    measure_launcher,
    read_header,
    translate,
)
from tpmcard.services.mtpm import MtpmError


def export_key(
    host_tpm: HostTpm,
    connect: Callable[[bytes], contextlib.AbstractContextManager[CardSession]],
    image: Path,
    target_certificate: bytes,
    owner_auth: bytes,
    pin: bytes,
    code: bytes | None = None,
) -> bytes:
    """Move the image's key out of its card to the card that ``target_certificate`` (from the
    migration CA the source card trusts) names: the mobile TPM's MIGRATE EXPORT with P1 = move,
    which needs the owner auth, a key packed ``migratable``, and everything an unseal needs
    (PCR 8 measured, the policy PCRs, the PIN). The key is revoked here; returns the duplicate
    for :func:`import_key` on the target card."""
    header = read_header(image)
    measure_launcher(host_tpm, header, code)
    with connect(header.card_id) as session:
        check_policy(session, header)
        try:
            return session.mtpm.migrate_export_sealed(
                header.sealed_key, target_certificate, owner_auth, pin, move=True
            )
        except MtpmError as exc:
            if exc.reason in ("untrusted_target", "not_migratable", "owner_auth"):
                raise EnvError(f"the card refused the move: {exc}", exc.reason) from None
            raise translate(exc, header) from None


def import_key(session: CardSession, image: Path, duplicate: bytes, owner_auth: bytes) -> Header:
    """On the target card: import the duplicate (re-sealed under its storage keys, same policy
    and PIN) and rewrite ``image``'s binding (card id, sealed key). The chunks stay as they
    are: the content key did not change."""
    header = read_header(image)
    try:
        blob = session.mtpm.migrate_import_sealed(duplicate, owner_auth)
    except MtpmError as exc:
        raise EnvError(f"the card refused the import: {exc}", exc.reason) from None
    rebound = Header(
        header.content,
        {"card_id": session.card_id.hex(), "sealed_key": blob.hex()},
        header.size,
        header.content_hash,
    )
    with open(image, "rb") as stream, atomic_output(image) as out:
        stream.seek(header.length)
        rebound.write(out)
        shutil.copyfileobj(stream, out, 1 << 20)
    return rebound


# --- attest -------------------------------------------------------------------------------------


ATTEST_PCRS = tuple(range(0, 10))


def attest(session: CardSession, header: Header, nonce: bytes, out: Path) -> list[Path]:
    """Quote PCRs 0-9 with the mobile TPM's AK into ``out`` (`tpmcard mtpm quote`'s files) and
    write environment.json: what PCR 8 and PCR 9 must hold for this image."""
    from tpmcard.services.verify import QuoteBundle

    bundle = QuoteBundle.collect(session.mtpm, ATTEST_PCRS, nonce)
    written = bundle.save(out)
    info = {
        "format": ATTESTATION_FORMAT,
        "card_id": header.card_id.hex(),
        "image_digest": header.digest.hex(),
        "image_size": header.size,
        "content_hash": header.content_hash.hex(),
        "launcher": header.policy["launcher"],
        "pcr8": header.policy["pcr_values"][str(LAUNCHER_PCR)],
        "pcr9": extend(ZERO, header.digest).hex(),
    }
    path = out / ATTESTATION_FILE
    path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    serialized = out / SERIALIZED_PCRS_FILE
    serialized.write_bytes(tpm2_tools_serialized_pcrs(bundle.quote.pcr_values))
    return [*written, serialized, path]


SERIALIZED_PCRS_FILE = "pcrs.tpm2"


def tpm2_tools_serialized_pcrs(values: Mapping[int, bytes]) -> bytes:
    """The PCR values as tpm2-tools writes them with ``tpm2_quote -o FILE -F serialized`` (its
    C structures in the host's byte order, here little-endian): TPML_PCR_SELECTION (16 slots of
    hash, sizeofSelect, 4 select bytes, 1 pad), a count, then TPML_DIGESTs of at most 8
    TPM2B_DIGESTs of 64-byte buffers. tpm2_checkquote 5.4 takes this file without ``-l`` for
    any number of PCRs; its raw "values" reader (``pcrs.bin`` with ``-l``) fails for more than
    8 PCRs."""
    indices = sorted(values)
    bitmap = bytearray(4)
    for i in indices:
        bitmap[i // 8] |= 1 << (i % 8)
    out = bytearray(struct.pack("<I", 1) + struct.pack("<HB4sx", 0x000B, 3, bytes(bitmap)))
    out += bytes(8 * 15)
    groups = [indices[k : k + 8] for k in range(0, len(indices), 8)]
    out += struct.pack("<I", len(groups))
    for group in groups:
        out += struct.pack("<I", len(group))
        for slot in range(8):
            value = values[group[slot]] if slot < len(group) else b""
            out += struct.pack("<H", len(value)) + value.ljust(64, b"\0")
    return bytes(out)


def expected_from(header: Header) -> dict[int, bytes]:
    return {  # PCR 9 first: the image is what a verifier asks about
        IMAGE_PCR: extend(ZERO, header.digest),
        LAUNCHER_PCR: bytes.fromhex(header.policy["pcr_values"][str(LAUNCHER_PCR)]),
    }


def verify_environment(
    pcr_values: Mapping[int, bytes], directory: Path, image: Path | None = None
) -> dict[int, bytes]:
    """After the quote itself verified: PCR 9 holds exactly the image's digest (the image was
    the one launched since the card's reset) and PCR 8 the launcher's measurement. The
    expectation comes from ``image``'s header, or else from ``directory``/environment.json."""
    if image is not None:
        expected = expected_from(read_header(image))
    else:
        try:
            info = json.loads((directory / ATTESTATION_FILE).read_text())
            expected = {
                IMAGE_PCR: bytes.fromhex(info["pcr9"]),
                LAUNCHER_PCR: bytes.fromhex(info["pcr8"]),
            }
        except (OSError, ValueError, KeyError) as exc:
            raise AttestVerificationError(f"{ATTESTATION_FILE}: {exc}", "malformed") from None
    for index, value in expected.items():
        if index not in pcr_values:
            raise AttestVerificationError(f"the quote does not cover PCR {index}", "pcr_selection")
        if pcr_values[index] != value:
            what = "the image's digest" if index == IMAGE_PCR else "the launcher's measurement"
            raise AttestVerificationError(
                f"PCR {index} does not hold {what} (another image or launcher ran, or more "
                "than one since the reset)",
                "environment",
            )
    return expected
