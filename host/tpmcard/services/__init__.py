"""Services: one session class per applet, and the host-side work built on them.

The layer above :mod:`tpmcard.channel` and :mod:`tpmcard.tpm` (see docs/api.md, "Layers"):
opening the card (:mod:`.client`), pairing and the secured session (:mod:`.session`,
:mod:`.pairings`), the core applet (:mod:`.core`), the mTPM (:mod:`.mtpm`, :mod:`.verify`),
the algorithm providers (:mod:`.algorithms`), the pairing CA and attestation (:mod:`.ca`,
:mod:`.attestation`), the demo (:mod:`.demo`) and deployment with GlobalPlatformPro (:mod:`.gp`).
"""
