"""No source file under host/ or applets/src/main/ is over 600 lines: a file that grows past it is
split along its seams."""

from __future__ import annotations

from pathlib import Path

import tpmcard

LIMIT = 600


def test_no_host_source_file_is_over_600_lines() -> None:
    package = Path(tpmcard.__file__).parent
    sizes = {
        str(p.relative_to(package)): len(p.read_text().splitlines()) for p in package.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}


def test_no_card_source_file_is_over_600_lines() -> None:
    main = Path(__file__).resolve().parents[2] / "applets" / "src" / "main" / "java"
    sizes = {
        str(p.relative_to(main)): len(p.read_text().splitlines()) for p in main.rglob("*.java")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > LIMIT} == {}
