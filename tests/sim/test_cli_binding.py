"""``tpmcard demo``, ``pair``, ``pairings``, ``pin`` and ``unpair`` as a user runs them: separate
processes sharing one state directory (the simulated card and the embedded swtpm), PINs through
file descriptors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tpmcard_cli import ok
from tpmcard_cli import run_tpmcard as run


def test_the_card_refuses_to_pair_with_the_factory_pin(tmp_path: Path) -> None:
    # Personalised with the attestation CA first (the factory PIN installs a first CA key), so
    # that only the PIN rule stands between this host and the card.
    ok(run(tmp_path, "ca", "init"))
    ok(run(tmp_path, "ca", "enroll", "--ek-roots", str(tmp_path / "swtpm" / "localca")))
    ok(run(tmp_path, "ca", "install", "--pin-fd", "{fd}", secrets="123456\n"))
    refused = run(tmp_path, "pair", "--pin-fd", "{fd}", secrets="123456\n")
    assert refused.returncode == 1 and "`tpmcard pin change`" in refused.stderr
    assert "Traceback" not in refused.stderr
    ok(run(tmp_path, "pin", "change", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}",
           secrets="123456\n975310\n"))  # fmt: skip
    refused = run(tmp_path, "pair", "--pin-fd", "{fd}", secrets="975310\n")
    assert refused.returncode == 1 and "--puk" in refused.stderr  # the default PUK too
    ok(run(tmp_path, "pin", "change", "--puk", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}",
           secrets="12345678\n97531086\n"))  # fmt: skip
    assert ok(run(tmp_path, "pair", "--pin-fd", "{fd}", secrets="975310\n")).startswith("Paired")


def test_demo_changes_its_cards_pin_then_the_binding_commands(tmp_path: Path) -> None:
    out = ok(run(tmp_path, "demo"))
    changed = re.search(r"to PIN (\d{6}) and PUK (\d{8})", " ".join(out.split()))
    assert changed is not None and "throw-away simulated card" in " ".join(out.split())
    pin = changed.group(1)
    assert pin != "123456" and "Paired: slot 0" in out
    assert "ECHO through secure messaging" in out
    assert "Host PCRs 0-8" in out
    again = ok(run(tmp_path, "demo"))
    assert "Already paired" in again and "to PIN" not in again

    listing = json.loads(ok(run(tmp_path, "pairings", "--json")))
    (slot,) = listing["card"]["slots"]
    assert slot["this_host"] and slot["pcrs"] == list(range(8))
    assert listing["host"][0]["held_by_card"]
    record = tmp_path / "pairings" / f"{listing['card']['card_id']}.json"
    assert record.stat().st_mode & 0o777 == 0o600
    assert "BEGIN TSS2 PRIVATE KEY" in record.read_text()

    # PINs never come from the command line.
    refused = run(tmp_path, "pair", "--pin", "123456")
    assert refused.returncode == 2 and "No such option" in refused.stderr

    ok(run(tmp_path, "pin", "change", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}",
           secrets=f"{pin}\n975310\n"))  # fmt: skip
    wrong = run(tmp_path, "pair", "--replace", "--pin-fd", "{fd}", secrets=f"{pin}\n")
    assert wrong.returncode == 1 and "wrong PIN: 2 tries left" in wrong.stderr
    status = json.loads(ok(run(tmp_path, "pin", "status", "--json")))
    assert status == {"pin_tries": 2, "puk_tries": 5}

    out = ok(run(tmp_path, "pair", "--update-policy", "--pin-fd", "{fd}", secrets="975310\n"))
    assert "the previous pairing in slot 0" in out
    ok(run(tmp_path, "unpair", "--this-host", "--pin-fd", "{fd}", secrets="975310\n"))
    listing = json.loads(ok(run(tmp_path, "pairings", "--json")))
    assert listing["card"]["slots"] == [] and listing["host"] == []
    gone = run(tmp_path, "unpair", "--this-host", "--pin-fd", "{fd}", secrets="975310\n")
    assert gone.returncode == 1 and "not paired" in gone.stderr


def test_ca_personalisation_enrolment_and_refused_policies(tmp_path: Path) -> None:
    """`tpmcard ca init|install|enroll` by hand, then `pair`: the order a card owner follows."""
    refused = run(tmp_path, "pair", "--pin-fd", "{fd}", secrets="123456\n")
    assert refused.returncode == 1 and "tpmcard ca" in " ".join(
        refused.stderr.split()
    )  # no CA, no EK roots yet
    ok(run(tmp_path, "ca", "init"))
    key = tmp_path / "ca" / "ca.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert run(tmp_path, "ca", "init").returncode != 0  # never overwritten without --force
    no_roots = run(tmp_path, "ca", "enroll")
    assert no_roots.returncode == 1 and "ek-roots" in " ".join(no_roots.stderr.split())
    roots = tmp_path / "swtpm" / "localca"  # the embedded swtpm's maker, made by now
    out = ok(run(tmp_path, "ca", "enroll", "--ek-roots", str(roots)))
    assert "AK certified" in out
    # The factory PIN and PUK go first (a card refuses to pair with them, issue 11 finding 4).
    ok(run(tmp_path, "pin", "change", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}",
           secrets="123456\n975310\n"))  # fmt: skip
    ok(run(tmp_path, "pin", "change", "--puk", "--pin-fd", "{fd}", "--new-pin-fd", "{fd}",
           secrets="12345678\n97531086\n"))  # fmt: skip
    unpersonalised = run(tmp_path, "pair", "--pin-fd", "{fd}", secrets="975310\n")
    assert unpersonalised.returncode == 1 and "tpmcard ca install" in " ".join(
        unpersonalised.stderr.split()
    )
    ok(run(tmp_path, "ca", "install", "--pin-fd", "{fd}", secrets="975310\n"))
    again = run(tmp_path, "ca", "install", "--pin-fd", "{fd}", secrets="975310\n")
    assert again.returncode == 1 and "only the PUK" in " ".join(again.stderr.split())
    ok(run(tmp_path, "ca", "install", "--replace", "--pin-fd", "{fd}", secrets="97531086\n"))
    resettable = run(tmp_path, "pair", "--pcrs", "7,16", "--pin-fd", "{fd}", secrets="975310\n")
    assert resettable.returncode == 1 and "PCR 16 can be reset" in " ".join(
        resettable.stderr.split()
    )
    out = ok(run(tmp_path, "pair", "--pcrs", "0-7", "--pin-fd", "{fd}", secrets="975310\n"))
    assert "Paired" in out
