"""What tpmcard asks of gptool 19.06.16 for install, uninstall, upgrade and list (pure plans).

The option names and their order of effect come from GPTool.java of that release: in one run it
deletes (--delete), then loads (--load), then creates instances (--create with --package and
--applet); --mode enc adds C-ENC to C-MAC; without --reader it would act on every reader."""

from __future__ import annotations

import pytest
from tpmcard.errors import NoReaderError, NotSupportedError
from tpmcard.services import gp

READER = "Virtual PCD 00 00"
KEY_HEX = "00112233445566778899AABBCCDDEEFF"
ENTROPY = bytes(range(0xA0, 0xC0))  # what the planner gets from its random source


def fixed_random(count: int) -> bytes:
    return ENTROPY[:count]


def session(*rest: str) -> list[str]:
    return ["--reader", READER, "--key", KEY_HEX, "--mode", "enc", *rest]


def test_install(
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
) -> None:
    plan = gp.plan_install(two_package_profile, two_package_caps, keys, READER, fixed_random)
    core_cap, provider_cap = (str(two_package_caps[n].path) for n in ("core", "provider"))
    assert [list(run.args) for run in plan] == [
        session(
            "--load", core_cap,
            "--package", "F074706D630100", "--applet", "F074706D63010001",
            "--create", "F074706D63010001",
            "--params", "C920" + ENTROPY.hex().upper(),
        ),
        session(
            "--load", provider_cap,
            "--package", "F074706D630200", "--applet", "F074706D63020001",
            "--create", "F074706D63020001",
            "--privs", "CardReset", "--params", "C9020102",
        ),
    ]  # fmt: skip
    assert "load package 'core'" in plan[0].purpose


def test_install_parameters_are_always_wrapped_in_c9() -> None:
    # gptool 19.06.16 passes --params through unchanged when its first byte is C9; entropy
    # starting with C9 must still arrive as the applet's parameters.
    assert gp.install_parameters_field(b"\xc9\x01\x02") == bytes.fromhex("C903C90102")
    assert gp.install_parameters_field(b"") == bytes.fromhex("C900")
    with pytest.raises(gp.ProfileError):
        gp.install_parameters_field(bytes(128))


def test_install_with_security_domain_and_separate_keys(
    two_package_manifest: gp.suite_manifest.SuiteManifest,
    two_package_caps: dict[str, gp.CapInfo],
) -> None:
    profile = gp.parse_profile(
        {"security_domain": "A000000151000000", "secure_channel": "mac", "block_size": 128},
        "sd",
        two_package_manifest,
    )
    enc, mac, dek = (bytes([b]) * 16 for b in (1, 2, 3))
    keys = gp.CardKeys.from_parts(enc, mac, dek, gp.KeyDiversification.EMV, version=0x20)
    run = gp.plan_install(profile, two_package_caps, keys, READER, fixed_random)[0]
    assert list(run.args[:17]) == [
        "--reader", READER, "--sdaid", "A000000151000000",
        "--key-enc", enc.hex().upper(), "--key-mac", mac.hex().upper(),
        "--key-dek", dek.hex().upper(), "--emv", "--key-ver", "32",
        "--mode", "mac", "--bs", "128",
    ]  # fmt: skip
    assert "--params" not in run.args  # this profile gives the core applet no parameters


def test_uninstall_deletes_dependents_first(
    two_package_profile: gp.DeploymentProfile, keys: gp.CardKeys
) -> None:
    (run,) = gp.plan_uninstall(two_package_profile, keys, READER)
    assert list(run.args) == session("--delete", "F074706D630200", "--delete", "F074706D630100")


def test_upgrade_of_a_package_nobody_imports_leaves_the_others(
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
) -> None:
    plan = gp.plan_upgrade(
        two_package_profile, two_package_caps, "provider", keys, READER, random_bytes=fixed_random
    )
    assert [list(run.args) for run in plan] == [
        session("--delete", "F074706D630200"),
        session(
            "--load", str(two_package_caps["provider"].path),
            "--package", "F074706D630200", "--applet", "F074706D63020001",
            "--create", "F074706D63020001", "--privs", "CardReset", "--params", "C9020102",
        ),
    ]  # fmt: skip
    assert all("F074706D630100" not in run.args for run in plan)


def test_upgrade_by_applet_name(
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
) -> None:
    def upgrade(name: str) -> list[tuple[str, ...]]:
        plan = gp.plan_upgrade(
            two_package_profile, two_package_caps, name, keys, READER, random_bytes=fixed_random
        )
        return [run.args for run in plan]

    assert upgrade("digest") == upgrade("provider")
    with pytest.raises(gp.ProfileError, match="no applet named 'wallet'"):
        upgrade("wallet")


def test_upgrade_of_an_imported_package_needs_its_dependents(
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
) -> None:
    with pytest.raises(gp.GpError, match="imported by 'provider'"):
        gp.plan_upgrade(two_package_profile, two_package_caps, "core", keys, READER)
    plan = gp.plan_upgrade(
        two_package_profile, two_package_caps, "core", keys, READER, with_dependents=True,
        random_bytes=fixed_random,
    )  # fmt: skip
    deletes = [a for run in plan[:1] for a in run.args if a.startswith("F0")]
    assert deletes == ["F074706D630200", "F074706D630100"]  # dependents first
    loads = [run.args[run.args.index("--load") + 1] for run in plan[1:]]
    assert loads == [str(two_package_caps[n].path) for n in ("core", "provider")]


def test_list(two_package_profile: gp.DeploymentProfile, keys: gp.CardKeys) -> None:
    (run,) = gp.plan_list(two_package_profile, keys, READER)
    assert list(run.args) == session("--list")


def test_redacted_shows_no_secret(
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
    keys: gp.CardKeys,
) -> None:
    for run in gp.plan_install(two_package_profile, two_package_caps, keys, READER, fixed_random):
        shown = " ".join(run.redacted()) + repr(run)
        assert KEY_HEX not in shown and ENTROPY.hex().upper() not in shown
        assert "--params <redacted>" in shown and "--key <redacted>" in shown
        assert READER in shown


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Virtual PCD 00 01", "Virtual PCD 00 01"),
        ("1", "Virtual PCD 00 01"),
        ("gemalto", "Gemalto USB Shell Token V2 00 00"),
    ],
)
def test_reader_resolution(spec: str, expected: str) -> None:
    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01", "Gemalto USB Shell Token V2 00 00"]
    assert gp.resolve_reader_name(spec, readers) == expected


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (None, NoReaderError, "never picks a reader"),
        ("", NoReaderError, "never picks a reader"),
        ("virtual", NoReaderError, "matches several PC/SC readers"),
        ("7", NoReaderError, "no PC/SC reader with index 7"),
        ("omnikey", NoReaderError, "no PC/SC reader matches"),
        ("sim", NotSupportedError, "no GlobalPlatform card manager"),
    ],
)
def test_reader_resolution_refuses(spec: str | None, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        gp.resolve_reader_name(spec, ["Virtual PCD 00 00", "Virtual PCD 00 01"])
