"""The in-process simulator: jCardSim in a JVM inside this Python process, through JPype.

The card is ``tpmcard.sim.SimCard`` (applets/src/sim/java): a jCardSim card whose applet
instances persist in a card store under a state directory, so a simulated card keeps its state
between ``tpmcard`` processes like a real card. Only one process at a time may own a state
directory; a second one gets :class:`~tpmcard.errors.SimulatorError` naming the owner.

JPype allows one JVM per process. :func:`start_jvm` starts it on first use with the class path
``gradle assemble`` writes (``applets/build/sim-classpath.txt``) or ``$TPMCARD_CLASSPATH``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tpmcard import paths
from tpmcard.errors import SimulatorError, TransportError
from tpmcard.transport.base import Connection

#: Overrides the class path file: entries separated by ``os.pathsep``.
CLASSPATH_ENV = "TPMCARD_CLASSPATH"
#: ``watch`` (default), ``always`` or ``verify``; see :meth:`JCardSimConnection.__init__`.
SAVE_MODE_ENV = "TPMCARD_SIM_SAVE_MODE"
#: The profile of a new simulated card (``full``, ``jcop4-j3r180``, ``j3h145``; docs/simulator.md).
#: The JVM reads it (``tpmcard.sim.enforce.CardProfile``); child JVMs inherit it.
PROFILE_ENV = "TPMCARD_SIM_PROFILE"


def profile_names() -> list[str]:
    """The simulated card profiles, in the order of their data file (the first is the default)."""
    data = json.loads(paths.profiles_path().read_text())
    names = list(data["profiles"])
    default = data["default"]
    return [default, *(n for n in names if n != default)]


def profile_descriptions() -> dict[str, str]:
    """Each profile's one-line description, from the same data file."""
    data = json.loads(paths.profiles_path().read_text())
    return {name: str(p["description"]) for name, p in data["profiles"].items()}


#: JVM options for every JVM that hosts a SimCard: this process and ``tpmcard sim serve``.
#: Java's ``SimCard.requiredJvmArgs()`` is the authority (today: none, because the card store
#: reaches the one private JDK field it needs through Unsafe instead of ``--add-opens``);
#: :func:`start_jvm` checks that every option it names is here.
JVM_ARGS: tuple[str, ...] = ()

_SIMCARD_CLASS = "tpmcard.sim.SimCard"
_AGENT_JAR_PREFIX = "tpmcard-applets"


def jvm_args(classpath: Sequence[str]) -> list[str]:
    """Every option of a JVM hosting a SimCard: :data:`JVM_ARGS` and the card-code agent.

    The simulator's jar is also a Java agent (``-javaagent``) that rewrites card classes as they
    load, so the simulator enforces the applet firewall, the RAM budget and per-card randomness
    (docs/simulator.md). The jar is the class path entry named ``tpmcard-applets*.jar``.
    """
    for entry in classpath:
        name = Path(entry).name
        if name.startswith(_AGENT_JAR_PREFIX) and name.endswith(".jar"):
            return [*JVM_ARGS, f"-javaagent:{entry}"]
    raise SimulatorError(
        f"the simulator's class path has no {_AGENT_JAR_PREFIX}*.jar (the card-code agent): "
        f"run `gradle assemble` in {paths.SOURCE_ROOT}",
        kind="not_built",
    )


_jvm_lock = threading.Lock()
_java: dict[str, Any] = {}


def sim_classpath() -> list[str]:
    """The class path of the simulator: ``$TPMCARD_CLASSPATH``, else the one Gradle wrote."""
    explicit = os.environ.get(CLASSPATH_ENV) or None
    if explicit is not None:
        entries = [e for e in explicit.split(os.pathsep) if e]
        origin = f"${CLASSPATH_ENV}"
    else:
        listing = paths.build_dir() / "sim-classpath.txt"
        try:
            entries = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            raise SimulatorError(
                f"the simulator is not built ({listing} is missing): "
                f"run `gradle assemble` in {paths.SOURCE_ROOT}",
                kind="not_built",
            ) from None
        origin = str(listing)
    missing = [e for e in entries if not Path(e).exists()]
    if not entries or missing:
        what = ", ".join(missing) if missing else "no entries"
        raise SimulatorError(
            f"the simulator's class path from {origin} is unusable ({what}): "
            f"run `gradle assemble` in {paths.SOURCE_ROOT}"
            + (f" or fix ${CLASSPATH_ENV}" if explicit is not None else ""),
            kind="not_built",
        )
    return entries


def start_jvm(classpath: Sequence[str] | None = None) -> None:
    """Start this process's JVM with the simulator's class path, once; later calls are no-ops.

    Raises :class:`SimulatorError` when JPype, the JVM (libjvm) or the jars are missing, or when
    something else already started a JVM without the simulator on its class path.
    """
    with _jvm_lock:
        if _java:
            return
        try:
            import jpype
        except ImportError as exc:
            raise SimulatorError(
                "the in-process simulator needs JPype: pip install JPype1"
            ) from exc
        if not jpype.isJVMStarted():
            entries = list(classpath) if classpath is not None else sim_classpath()
            try:
                jvm = jpype.getDefaultJVMPath()
            except jpype.JVMNotFoundException as exc:
                raise SimulatorError(
                    "no Java runtime found (libjvm.so): install OpenJDK 17 "
                    "(apt install openjdk-17-jre-headless) or set JAVA_HOME",
                    kind="no_jvm",
                ) from exc
            try:
                # interrupt=False: Ctrl-C stays Python's KeyboardInterrupt, the JVM ignores it.
                jpype.startJVM(
                    *jvm_args(entries),
                    jvmpath=jvm,
                    classpath=entries,
                    convertStrings=False,
                    interrupt=False,
                )
            except OSError as exc:
                raise SimulatorError(
                    f"the JVM ({jvm}) failed to start: {exc}", kind="no_jvm"
                ) from exc
            # jCardSim prints debug lines (e.g. from Signature.getInstance) on System.out, which
            # is this process's stdout: it would corrupt `tpmcard ... --json` and clutter every
            # command. Nothing of ours prints there, so the JVM's stdout is discarded.
            system = jpype.JClass("java.lang.System")
            print_stream = jpype.JClass("java.io.PrintStream")
            output_stream = jpype.JClass("java.io.OutputStream")
            system.setOut(print_stream(output_stream.nullOutputStream()))
        try:
            simcard = jpype.JClass(_SIMCARD_CLASS)
        except TypeError as exc:
            raise SimulatorError(
                f"the JVM in this process cannot load {_SIMCARD_CLASS}: it was started without "
                "the simulator's class path (start it with tpmcard.transport.jcardsim.start_jvm), "
                f"or the jars are stale: run `gradle assemble` in {paths.SOURCE_ROOT}",
                kind="not_built",
            ) from exc
        needed = [str(a) for a in simcard.requiredJvmArgs()]
        if any(a not in JVM_ARGS for a in needed):
            raise SimulatorError(
                f"SimCard needs JVM options {needed}; add them to "
                "tpmcard.transport.jcardsim.JVM_ARGS"
            )
        _java["SimCard"] = simcard
        _java["SimCardException"] = jpype.JClass("tpmcard.sim.SimCardException")
        _java["convertToDirectBuffer"] = jpype.nio.convertToDirectBuffer
        _java["JException"] = jpype.JException


def _simulator_error(exc: Any) -> SimulatorError:
    """A Java SimCardException as a SimulatorError; ``kind`` is its stable code (e.g. "locked")."""
    return SimulatorError(str(exc.getMessage()), kind=str(exc.kindName()))


def erase_card(state_dir: str | os.PathLike[str] | None = None) -> bool:
    """Delete the simulated card's store without reading it (the way out of a damaged or
    incompatible store); the next open makes a new card. Returns whether there was a store.

    Raises :class:`SimulatorError` (``kind`` "locked") if a process has the card open.
    """
    start_jvm()
    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    try:
        return bool(_java["SimCard"].erase(str(directory)))
    except _java["SimCardException"] as exc:
        raise _simulator_error(exc) from None


def default_state_dir() -> Path:
    """Where the in-process simulated card keeps its store unless told otherwise."""
    return paths.state_dir() / "card"


# Largest command APDU: extended case 4 with 65535 data bytes (ISO 7816-4 §5.1); the shared buffer
# also takes the largest response jCardSim produces (32767 bytes + SW).
_BUFFER_SIZE = 4 + 3 + 65535 + 3


class JCardSimConnection(Connection):
    """The simulated card, in this process.

    ``state_dir``: the card store's directory (default ``tpmcard.paths.state_dir() / "card"``).
    ``manifest``: the suite manifest whose applets a fresh card gets (default the source tree's).
    ``save_mode``: ``"watch"`` (default, or ``$TPMCARD_SIM_SAVE_MODE``) saves a command's effect
    before its response returns, finding changes with a field-level watch; ``"always"``
    serialises the card after every command (slow baseline); ``"verify"`` does both and fails if
    the watch misses a change (tests).
    ``profile``: the card profile of a new card (default ``$TPMCARD_SIM_PROFILE``, else ``full``);
    an existing card keeps the profile it was made with, and naming another one is a
    :class:`SimulatorError` of kind ``"profile"``.
    ``rules``: the simulator rules this card enforces (``"firewall,ram"``, ``"all"``, ``"none"``;
    default ``$TPMCARD_SIM_ENFORCE``, else the firewall).
    """

    name = "jcardsim (in-process)"

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        manifest: str | os.PathLike[str] | None = None,
        save_mode: str | None = None,
        purpose: str | None = None,
        profile: str | None = None,
        rules: str | None = None,
    ) -> None:
        start_jvm()
        self._lock = threading.Lock()
        directory = Path(state_dir) if state_dir is not None else default_state_dir()
        manifest_path = Path(manifest) if manifest is not None else paths.manifest_path()
        who = purpose or " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]).strip() or "python"
        try:
            self._card = _java["SimCard"].open(
                str(directory), str(manifest_path), who, rules, profile
            )
            mode = save_mode or os.environ.get(SAVE_MODE_ENV)
            if mode:
                self._card.setSaveMode(mode)
        except _java["SimCardException"] as exc:
            raise _simulator_error(exc) from None
        except _java["JException"] as exc:  # e.g. an unknown save mode
            if hasattr(self, "_card"):
                self._card.close()
            raise SimulatorError(f"the simulated card cannot be opened: {exc}") from None
        self._atr = bytes(self._card.getATR())
        self.state_dir = directory
        # Command and response travel through one direct buffer shared with the JVM: JPype then
        # converts no arrays, which more than pays for the card store's change check.
        self._buffer = bytearray(_BUFFER_SIZE)
        self._view = memoryview(self._buffer)
        self._direct = _java["convertToDirectBuffer"](self._buffer)
        self._closed = False

    def transmit(self, apdu: bytes) -> bytes:
        n = len(apdu)
        if n > _BUFFER_SIZE:
            raise TransportError(f"command APDU of {n} bytes exceeds the extended-length maximum")
        with self._lock:
            if self._closed:
                raise TransportError("the simulated card connection is closed")
            self._buffer[:n] = apdu
            try:
                length = self._card.transmitBuffer(self._direct, n)
            except _java["SimCardException"] as exc:
                raise _simulator_error(exc) from None
            return bytes(self._view[:length])

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def supports_extended(self) -> bool:
        return True

    def reset(self) -> None:
        with self._lock:
            self._check_open()
            self._call("reset")

    def delete_applet(self, aid: bytes) -> None:
        """Delete an applet instance; its load file stays (:meth:`create_applet` brings it back)."""
        with self._lock:
            self._check_open()
            self._call("deleteApplet", aid.hex().upper())

    def create_applet(self, aid: bytes, params: bytes | None = None) -> None:
        """Create an instance of a loaded applet; ``params`` default to 32 fresh random bytes."""
        with self._lock:
            self._check_open()
            self._call("createApplet", aid.hex().upper(), None if params is None else bytes(params))

    def factory_reset(self) -> None:
        """Erase the card and install the manifest's applets afresh (a new card identity)."""
        with self._lock:
            self._check_open()
            self._call("factoryReset")

    def save(self) -> None:
        """Write the store now (every command's effect is already saved; this rewrites it)."""
        with self._lock:
            self._check_open()
            self._call("save")

    def cut_power_at_write(self, n: int) -> None:
        """Cut the power at the ``n``-th persistent write of the next command (tests).

        That write does not happen, an open transaction is rolled back, :meth:`transmit` raises
        :class:`SimulatorError` with ``kind`` ``"power_loss"`` instead of answering, and the card
        is powered up again holding, in its store too, exactly the state the cut left. ``n = 0``
        only counts the next command's persistent writes (:meth:`persistent_writes`).
        """
        with self._lock:
            self._check_open()
            self._call("cutPowerAtWrite", n)

    def persistent_writes(self) -> int:
        """Persistent writes of the command after the last :meth:`cut_power_at_write`."""
        with self._lock:
            self._check_open()
            return int(self._call("persistentWrites"))

    def applet_aids(self) -> list[bytes]:
        """AIDs of the applet instances on the card."""
        with self._lock:
            self._check_open()
            return [bytes.fromhex(str(a)) for a in self._card.appletAids()]

    def transient_memory_status(self) -> tuple[int, int]:
        """(transient arrays, how many hold a non-zero element): (n, 0) after a power-on."""
        with self._lock:
            self._check_open()
            count, non_zero = self._card.transientMemoryStatus()
            return int(count), int(non_zero)

    def memory_report(self) -> dict[str, Any] | None:
        """Each applet's memory as the simulator measured it at install, and the totals.

        Bytes: ``transient_reset`` / ``transient_deselect`` (transient arrays), ``crypto_ram``
        (crypto objects at the JCAlgTest figures of the card's profile), ``transient`` (their
        sum) and ``persistent`` (arrays and objects, estimated headers). None for a card installed
        before the simulator measured memory (``tpmcard sim reset`` measures it afresh).
        """
        with self._lock:
            self._check_open()
            text = self._call("memoryReport")
        if text is None:
            return None
        report: dict[str, Any] = json.loads(str(text))
        return report

    @property
    def profile(self) -> str:
        """The card's profile (docs/simulator.md, "Card profiles"), e.g. ``"jcop4-j3r180"``."""
        return str(self._card.profile())

    def ram_in_use(self) -> tuple[int, int]:
        """(transient RAM the applets hold now, the card's budget), bytes."""
        with self._lock:
            self._check_open()
            return int(self._card.ramUsed()), int(self._card.ramBudget())

    @property
    def store_path(self) -> Path:
        """The card store file."""
        return Path(str(self._card.storePath()))

    def statistics(self) -> dict[str, int]:
        """Counters since open (benchmarks): commands, watch/encode/write time and counts."""
        keys = (
            "commands",
            "watch_ns",
            "encodes",
            "encode_ns",
            "writes",
            "write_ns",
            "watched_fields",
            "watched_arrays",
            "watched_array_bytes",
            "store_payload_bytes",
        )
        with self._lock:
            return dict(zip(keys, (int(v) for v in self._card.statistics()), strict=True))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._card.close()
            except _java["SimCardException"] as exc:
                raise _simulator_error(exc) from None

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the simulated card connection is closed")

    def _call(self, method: str, *args: object) -> Any:
        try:
            return getattr(self._card, method)(*args)
        except _java["SimCardException"] as exc:
            raise _simulator_error(exc) from None
