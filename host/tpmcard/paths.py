"""Where tpmcard keeps its state and finds its build outputs.

State (the simulated card's persistent memory, the embedded swtpm's NV, pinned pairings) lives in
``$TPMCARD_STATE_DIR`` or, by default, ``$XDG_STATE_HOME/tpmcard`` (``~/.local/state/tpmcard``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The source checkout this package was installed (editable) from.
SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


def state_dir() -> Path:
    """The root of tpmcard's persistent state, created with mode 0700 on first use."""
    explicit = os.environ.get("TPMCARD_STATE_DIR")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        root = Path(xdg) / "tpmcard"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def manifest_path() -> Path:
    """The suite manifest (package and applet AIDs), shared with build.gradle and the tests."""
    return SOURCE_ROOT / "applets" / "manifest.json"


def profiles_path() -> Path:
    """The simulated card profiles (from JCAlgTest), shared with the simulator's jar."""
    resources = SOURCE_ROOT / "applets" / "src" / "sim" / "resources"
    return resources / "tpmcard" / "sim" / "enforce" / "profiles.json"


def build_dir() -> Path:
    """Gradle's output directory for the applets."""
    return SOURCE_ROOT / "applets" / "build"
