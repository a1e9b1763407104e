"""Policy sessions of :class:`~tpmcard.tpm.adapter.Tpm`: started salted with response encryption,
and the PCR and auth-value policy of a key file replayed in them."""

from __future__ import annotations

from tpm2_pytss import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_SE,
    TPMA_SESSION,
    TPMT_SYM_DEF,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
    TSS2_Exception,
)

from tpmcard.errors import (
    NotSupportedError,
    TpmPolicyError,
)
from tpmcard.tpm.esys import _RC_VALUE, TpmConnection
from tpmcard.tpm.keyblob import (
    KeyBlob,
    PcrPolicy,
)
from tpmcard.tpm_structures import (
    CC_POLICY_AUTH_VALUE,
    CC_POLICY_PCR,
)

_PCR_CHANGED = (
    "the host's PCR state changed since pairing: PCRs {selection} no longer hold the values "
    "this key is bound to"
)
_SEALED_PCR_CHANGED = (
    "the TPM refused to unseal: PCRs {selection} no longer hold the values the data was sealed "
    "to (it opens again only if they return to those values)"
)


class PolicySessions(TpmConnection):
    """Policy sessions (Part 1 §19.7): started salted and encrypted; a key file's policy
    replayed in them."""

    def _start_policy_session(self, salt_key: ESYS_TR) -> ESYS_TR:
        """A policy session salted with ``salt_key`` (the parent) whose responses are encrypted
        (AES-128-CFB parameter encryption, Part 1 §21); the caller flushes it."""
        session = self._call(
            "start a policy session",
            self._esapi.start_auth_session,
            salt_key,
            ESYS_TR.NONE,
            TPM2_SE.POLICY,
            TPMT_SYM_DEF(
                algorithm=TPM2_ALG.AES,
                keyBits=TPMU_SYM_KEY_BITS(aes=128),
                mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
            ),
            TPM2_ALG.SHA256,
        )
        try:
            attributes = TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.ENCRYPT
            self._esapi.trsess_set_attributes(session, attributes, attributes)
        except BaseException:
            self._flush(session)
            raise
        return session

    def _replay_policy(
        self,
        session: ESYS_TR,
        blob: KeyBlob,
        pcr_policy: PcrPolicy,
        changed_message: str = "",
    ) -> None:
        changed_message = changed_message or _PCR_CHANGED
        for command in blob.policy:
            if command.command_code == CC_POLICY_PCR:
                policy = PcrPolicy.from_policy_command(command)
                try:
                    # With the expected digest given, the TPM compares it with the current PCRs
                    # itself and answers TPM_RC_VALUE on a mismatch (Part 3 §23.7).
                    self._esapi.policy_pcr(session, policy.pcr_digest, self._tpml(policy.selection))
                except TSS2_Exception as exc:
                    if int(exc.error) == _RC_VALUE:
                        raise TpmPolicyError(
                            changed_message.format(selection=policy.selection),
                            rc=int(exc.rc),
                            pcr_selection=str(policy.selection),
                        ) from exc
                    raise self._translate("replay the PCR policy", exc) from exc
            elif command.command_code == CC_POLICY_AUTH_VALUE:
                self._call("add the PIN to the policy", self._esapi.policy_auth_value, session)
            else:
                raise NotSupportedError(
                    f"policy command 0x{command.command_code:x} in a key file is not supported"
                )
