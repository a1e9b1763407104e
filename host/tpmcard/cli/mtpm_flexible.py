"""``tpmcard mtpm approve|revoke|bind-key|bind|unbind`` and the flexible options of ``seal`` and
``unseal`` (docs/flexible-sealing.md): presentation only.

:mod:`tpmcard.services.mtpm_flexible` does the work. Files: an any-of FILE is JSON
``{"pcrs": [0, 16], "states": [{"0": HEX, "16": HEX}, ...]}`` (PCR values) or with
``"digests": [HEX, ...]`` (PCR digests) instead of states; approvals and revocations are JSON
(:meth:`Approval.as_dict`, :meth:`Revocation.as_dict`); keys are PEM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.cli import JSON_HELP, Options, parse_hex, print_json
from tpmcard.cli import mtpm as cli_mtpm  # open_mtpm looked up per call: one seam to replace
from tpmcard.cli.mtpm import mtpm, parse_pcrs
from tpmcard.services.mtpm_flexible import (
    AnyOfPolicy,
    Approval,
    Authority,
    AuthorizedPolicy,
    NoPolicy,
    Policy,
    Revocation,
    bind,
)
from tpmcard.services.mtpm_formats import endorsement_qualified_name

ANY_OF_HELP = (
    'JSON: {"pcrs": [0, 16], "states": [{"0": HEX, "16": HEX}, ...]} or "digests": [HEX, ...] '
    "instead of states: the object opens in any of these configurations (1..24)."
)
AUTHORITY_HELP = "PEM public (or private) P-256 key of the authority whose approvals open it."
POLICY_REF_HELP = "The policyRef approvals must name (text, 0..32 bytes; default empty)."


def _json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: not a readable {what} JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: a {what} file holds a JSON object")
    return data


def load_any_of(path: Path) -> AnyOfPolicy:
    data = _json_file(path, "any-of")
    try:
        pcrs = [int(i) for i in data["pcrs"]]
        if "digests" in data:
            states: list[Any] = [bytes.fromhex(d) for d in data["digests"]]
        else:
            states = [{int(k): bytes.fromhex(v) for k, v in s.items()} for s in data["states"]]
        return AnyOfPolicy.of(pcrs, states)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from None


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    raw = path.read_bytes()
    try:
        key: Any = serialization.load_pem_public_key(raw)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(raw, None).public_key()
        except (ValueError, TypeError):
            raise click.BadParameter(f"{path}: not a PEM P-256 key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise click.BadParameter(f"{path}: not a P-256 key")
    return key


def load_authority(path: Path) -> Authority:
    try:
        return Authority.from_pem(path.read_bytes())
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(
            f"{path}: not an unencrypted PEM P-256 private key ({exc})"
        ) from None


def flexible_policy(
    any_of: Path | None, authority: Path | None, policy_ref: str
) -> AnyOfPolicy | AuthorizedPolicy | None:
    """The policy the options of ``seal`` or ``bind`` name, or None (a classic seal / no policy)."""
    if any_of is not None and authority is not None:
        raise click.UsageError("--any-of and --authority are two policies: give one")
    if any_of is not None:
        return load_any_of(any_of)
    if authority is not None:
        try:
            return AuthorizedPolicy.of(load_public_key(authority), policy_ref.encode())
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return None


def load_approval(path: Path | None) -> Approval | None:
    if path is None:
        return None
    try:
        return Approval.from_dict(_json_file(path, "approval"))
    except ValueError as exc:
        raise click.BadParameter(f"{path}: {exc}") from None


# --- the authority ----------------------------------------------------------------------------


@mtpm.command()
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The authority's P-256 private key (PEM).",
)
@click.option("--pcrs", required=True, metavar="LIST", help="PCRs of the combined view, e.g. 0,16")
@click.option(
    "--state",
    "state_file",
    type=click.Path(exists=True, path_type=Path),
    help='JSON {"0": HEX, "16": HEX}: the PCR values of the approved configuration.',
)
@click.option("--digest", help="Or the approved configuration's PCR digest (hex).")
@click.option("--current", is_flag=True, help="Or the card's current values (needs the card).")
@click.option(
    "--epoch",
    required=True,
    type=click.IntRange(0, 2**64 - 1),
    help="The approval's epoch: refused once the authority revokes below it.",
)
@click.option("--policy-ref", default="", help=POLICY_REF_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("out", metavar="OUT", type=click.File("w"))
@click.pass_obj
def approve(
    opts: Options,
    key_file: Path,
    pcrs: str,
    state_file: Path | None,
    digest: str | None,
    current: bool,
    epoch: int,
    policy_ref: str,
    as_json: bool,
    out: Any,
) -> None:
    """Approve a configuration (authority): writes the approval JSON that `unseal --approval`
    and `unbind --approval` present. Signs "tpmcard-approve-v1" || selection || PCR digest ||
    policyRef || epoch (docs/flexible-sealing.md)."""
    authority = load_authority(key_file)
    indices = parse_pcrs(pcrs)
    if [state_file is not None, digest is not None, current].count(True) != 1:
        raise click.UsageError(
            "give the configuration once: --state FILE, --digest HEX or --current"
        )
    state: bytes | dict[int, bytes]
    if state_file is not None:
        state = {int(k): bytes.fromhex(v) for k, v in _json_file(state_file, "state").items()}
    elif digest is not None:
        state = parse_hex(digest)
    else:
        with cli_mtpm.open_mtpm(opts) as m:
            state = m.pcr_read(indices)
    try:
        approval = authority.approve(indices, state, epoch, policy_ref.encode())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    data = {**approval.as_dict(), "policy_ref": policy_ref}
    out.write(json.dumps(data, indent=1) + "\n")
    if as_json:
        print_json(data)


@mtpm.command()
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, path_type=Path),
    help="The authority's P-256 private key (PEM): sign a revoke statement.",
)
@click.option(
    "--epoch",
    type=click.IntRange(0, 2**64 - 1),
    help="With --key: approvals of a lower epoch are refused from now on.",
)
@click.option(
    "--statement",
    "statement_file",
    type=click.Path(exists=True, path_type=Path),
    help="Or send a revoke statement the authority made (JSON).",
)
@click.option(
    "--out",
    "out_file",
    type=click.File("w"),
    help="Write the signed statement here instead of sending it (no card needed).",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def revoke(
    opts: Options,
    key_file: Path | None,
    epoch: int | None,
    statement_file: Path | None,
    out_file: Any,
    as_json: bool,
) -> None:
    """Revoke an authority's approvals below an epoch: sign the statement (--key --epoch), and
    write it (--out) or send it to the card, which raises its floor for that authority (never
    lowers it; no owner auth needed: only the authority can sign it)."""
    if (key_file is None) == (statement_file is None) or (key_file is not None and epoch is None):
        raise click.UsageError("give --key PEM --epoch N, or --statement FILE")
    if key_file is not None and epoch is not None:
        revocation = load_authority(key_file).revoke(epoch)
    else:
        assert statement_file is not None
        try:
            revocation = Revocation.from_dict(_json_file(statement_file, "revocation"))
        except ValueError as exc:
            raise click.BadParameter(f"{statement_file}: {exc}") from None
    data: dict[str, Any] = revocation.as_dict()
    if out_file is not None:
        out_file.write(json.dumps(data, indent=1) + "\n")
    else:
        with cli_mtpm.open_mtpm(opts) as m:
            data["floor"] = m.revoke_approvals(revocation)
    if as_json:
        print_json(data)
    elif "floor" in data:
        click.echo(f"the card refuses this authority's approvals below epoch {data['floor']}")


# --- binding ----------------------------------------------------------------------------------


@mtpm.command("bind-key")
@click.option("-o", "--out", "out_file", type=click.File("wb"), help="Write the key as PEM here.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_obj
def bind_key(opts: Options, out_file: BinaryIO | None, as_json: bool) -> None:
    """The card's bind public key (P-256 ECDH, made on the card; its private half never leaves):
    anyone encrypts to it with `tpmcard mtpm bind`. Certified by the EK (TPM2_Certify)."""
    with cli_mtpm.open_mtpm(opts) as m:
        public = m.bind_public()
    pem = public.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if out_file is not None:
        out_file.write(pem)
    if as_json:
        print_json(
            {
                "public": public.raw.hex(),
                "name": public.name.hex(),
                "qualified_name": endorsement_qualified_name(public.name).hex(),
                "pem": pem.decode(),
            }
        )
    elif out_file is None:
        click.echo(pem.decode(), nl=False)


@mtpm.command("bind")
@click.option(
    "--pub",
    "pub_file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The card's bind public key (PEM, `tpmcard mtpm bind-key -o`).",
)
@click.option("--any-of", "any_of", type=click.Path(exists=True, path_type=Path), help=ANY_OF_HELP)
@click.option("--authority", type=click.Path(exists=True, path_type=Path), help=AUTHORITY_HELP)
@click.option("--policy-ref", default="", help=POLICY_REF_HELP)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("source", metavar="IN", type=click.File("rb"))
@click.argument("target", metavar="OUT", type=click.File("wb"))
def bind_command(
    pub_file: Path,
    any_of: Path | None,
    authority: Path | None,
    policy_ref: str,
    as_json: bool,
    source: BinaryIO,
    target: BinaryIO,
) -> None:
    """Encrypt IN (1..128 bytes) to a card's bind key, offline (no card): only that card opens
    it (`unbind`), and only while the policy holds (none by default)."""
    policy: Policy = flexible_policy(any_of, authority, policy_ref) or NoPolicy()
    try:
        ciphertext = bind(load_public_key(pub_file), source.read(), policy)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    target.write(ciphertext)
    if as_json:
        print_json({"length": len(ciphertext), "policy": type(policy).__name__})


@mtpm.command()
@click.option(
    "--approval",
    "approval_file",
    type=click.Path(exists=True, path_type=Path),
    help="The authority's approval (JSON, `tpmcard mtpm approve`) for an authorized policy.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("source", metavar="IN", type=click.File("rb"))
@click.argument("target", metavar="OUT", type=click.File("wb"))
@click.pass_obj
def unbind(
    opts: Options, approval_file: Path | None, as_json: bool, source: BinaryIO, target: BinaryIO
) -> None:
    """Decrypt IN (made by `tpmcard mtpm bind` for this card) into OUT, if its policy holds."""
    approval = load_approval(approval_file)
    ciphertext = source.read()
    with cli_mtpm.open_mtpm(opts) as m:
        data = m.unbind(ciphertext, approval)
    target.write(data)
    if as_json:
        print_json({"length": len(data)})
