"""Property-based fuzzing of the closure engine on the simulated card (docs/closures.md "Bounds",
"Status words of a run", "Isolation").

Random closures go through the real route (secure session, INVOKE, the mobile TPM, staging):
random bytes as code under random header limits, and well-formed but hostile programs drawn
from the whole instruction set with operands aimed at the edges (addresses at and past the
memory's end, negative lengths, PCR indices past 23, 65-byte HMAC keys, division by zero),
deep stacks, loops up to the step limit, stores written past their quota, CLOCK and CSIGN.
For every run:

* it either finishes, with at most its header's output size, or stops with one of the status
  words docs/closures.md lists (a FAIL's 64xx, a violation's 6601..660A, 6700 for arguments
  longer than the memory) — nothing else, never a 6F00;
* the card then answers the next command (a protected ECHO);
* the other closure on the card (``victim``, loaded with a known store) keeps its store byte for
  byte, checked after every example, and a fuzzed closure that is loaded gets a store of its own
  and nothing of the victim's.

On the in-process simulator (a fresh card for the module), with a smaller run of the same
properties through PC/SC (pcscd + vpcd); about a minute in all (``TPMCARD_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from conftest import BoundCard, _bound_card  # tests/conftest.py
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from tpmcard.services.closures import Builder, Header, PlainImage
from tpmcard.services.closures import constants as C
from tpmcard.services.closures.builder import INSTRUCTIONS
from tpmcard.services.closures.session import ClosureError
from tpmcard.services.session import SecureCardSession

#: What a run may answer besides 9000 (docs/closures.md "Status words of a run").
DOCUMENTED = {
    C.SW_CLOSURE_STEPS,
    C.SW_CLOSURE_STACK,
    C.SW_CLOSURE_MEMORY,
    C.SW_CLOSURE_CODE,
    C.SW_CLOSURE_OUTPUT,
    C.SW_CLOSURE_STORE,
    C.SW_CLOSURE_ARITHMETIC,
    C.SW_CLOSURE_OPERAND,
    C.SW_CLOSURE_NO_ROOM,
    C.SW_CLOSURE_UNAVAILABLE,
    0x6700,  # arguments longer than the memory
}
#: CSIGN with a count-limited key the card does not have, or of another kind: the key's own SWs
#: (docs/counted-keys.md), which the closure passes on.
COUNTED_KEY_REFUSALS = {0x6A88, 0x6984, 0x6981, 0x6A80}

VICTIM_STORE = bytes(range(0x40, 0x60))  # 32 bytes the victim keeps


def victim_image() -> PlainImage:
    """``victim``: with arguments, stores them at 0 (32 bytes); always answers its whole store."""
    b = Builder("victim", stack=4, memory=32, output=32, store=32, steps=40)
    b.arglen().jz("dump")
    b.pushb(0).pushb(0).arglen().sstore()
    b.label("dump").pushb(0).pushb(0).pushb(32).sload()
    b.pushb(0).pushb(32).out().halt()
    return b.image()


@pytest.fixture(scope="module")
def fuzz_bound_card(
    jvm: None, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BoundCard]:
    """One fresh in-process card for the module (pairing costs seconds), paired."""
    with _bound_card("sim", request, tmp_path_factory.mktemp("fuzz")) as card:
        yield card


@pytest.fixture(scope="module")
def fuzz_card(fuzz_bound_card: BoundCard) -> Iterator[SecureCardSession]:
    """One session for the module's examples, the victim loaded with its store."""
    with fuzz_bound_card.connect() as session:
        session.closures.load(victim_image())
        assert session.closures.run("victim", VICTIM_STORE) == VICTIM_STORE
        yield session


# --- strategies ------------------------------------------------------------------------------

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8).filter(
    lambda n: n != "victim"
)


@st.composite
def headers(draw: st.DrawFn, code_length: int, store: bool) -> Header:
    """Limits that mostly fit the 260-byte window of a staged run (stack, memory and output in
    225 bytes), sometimes anything up to the card's caps (then 6609 before any step)."""
    if draw(st.integers(0, 9)) == 0:
        stack = draw(st.integers(1, C.MAX_STACK))
        memory = draw(st.integers(0, C.MAX_MEMORY))
        output = draw(st.integers(0, C.MAX_OUTPUT))
    else:
        stack = draw(st.integers(1, 16) if draw(st.booleans()) else st.integers(12, 24))
        memory = draw(st.integers(0, 120))
        output = draw(st.integers(0, max(0, 225 - 2 * stack - memory - 40)))
    return Header(
        draw(NAMES),
        version=draw(st.integers(0, 0xFFFF)),
        stack=stack,
        memory=memory,
        output=output,
        store=draw(st.integers(0, C.MAX_STORE)) if store else 0,
        steps=draw(st.one_of(st.integers(1, 300), st.integers(1, C.MAX_STEPS))),
        code_length=code_length,
    )


@st.composite
def random_code_images(draw: st.DrawFn, store: bool = False) -> PlainImage:
    """Code of random bytes: mostly garbage, sometimes a valid prefix by chance."""
    code = draw(st.binary(min_size=1, max_size=C.MAX_CODE // 3))
    return PlainImage(draw(headers(len(code), store)), code)


#: Values each instruction pops (docs/closures.md "Instruction set"), so that a hostile program
#: mostly reaches the instruction's own checks rather than an empty stack.
POPS = {
    "fail": 1, "jz": 1, "jnz": 1, "pop": 1, "dup": 1, "swap": 2, "over": 2, "rot": 3,
    "add": 2, "sub": 2, "mul": 2, "div": 2, "mod": 2, "and": 2, "or": 2, "xor": 2, "not": 1,
    "shl": 2, "shr": 2, "eq": 2, "lt": 2, "ult": 2, "load8": 1, "store8": 2, "load16": 1,
    "store16": 2, "mcopy": 3, "mfill": 3, "meq": 3, "data": 1, "div32": 2, "add32": 2, "out": 2,
    "sload": 3, "sstore": 3, "pcr": 2, "sha256": 3, "hmac256": 5, "sha1": 3, "hmac1": 5,
    "random": 2, "clock": 1, "csign": 4,
}  # fmt: skip


def edges(memory: int) -> st.SearchStrategy[int]:
    """Operands aimed at the edges of every region: inside the memory, its last bytes and just
    past it, the caps and one past them, negative numbers, the 16-bit extremes."""
    inside = st.integers(0, max(memory // 2, 1))
    return st.one_of(
        inside,
        inside,
        inside,
        st.sampled_from([memory - 1, memory, memory + 1, memory - 32, memory - 20, 8, 20, 32]),
        st.sampled_from([-1, -2, -32768, 32767, 0xFFFF, 23, 24, 64, 65, 255, 256, 257, 20000]),
        st.integers(-32768, 0xFFFF),
    ).map(lambda v: max(-32768, min(0xFFFF, v)))


MNEMONICS = sorted(INSTRUCTIONS)


@st.composite
def hostile_images(draw: st.DrawFn, store: bool = False) -> PlainImage:
    """A well-formed program (every immediate complete) of random instructions with edge
    operands, plus one hostile pattern: a deep stack, a loop to the step limit, a store
    written past its quota, or none."""
    header = draw(headers(1, store))
    b = Builder(header.name, **{f: getattr(header, f) for f in ("stack", "memory", "output",
                                                                 "store", "steps")})  # fmt: skip
    edge = edges(header.memory)
    count = draw(st.one_of(st.integers(1, 8), st.integers(1, 40)))
    b.label("start")
    for i in range(count):
        b.label(f"l{i}")
        mnemonic = draw(st.sampled_from(MNEMONICS))
        kind = INSTRUCTIONS[mnemonic][1]
        # Its operands first, most of the time (else whatever the stack holds, or nothing).
        if draw(st.integers(0, 4)):
            for _ in range(POPS.get(mnemonic, 0)):
                b.push(draw(edge))
        if kind is None:
            b.op(mnemonic)
        elif kind == "u8":
            b.op(mnemonic, draw(st.integers(0, 255)))
        elif kind == "i16":
            b.op(mnemonic, draw(edge))
        elif kind == "addr":
            target = draw(st.integers(0, count))
            b.op(mnemonic, f"l{target}" if target < count else "end")
        else:
            b.op(mnemonic, draw(st.binary(max_size=48)))
    b.label("end")
    pattern = draw(st.sampled_from(["none", "deep", "loop", "store", "pcr", "hmac", "clock"]))
    if pattern == "deep":
        for _ in range(C.MAX_STACK + 1):
            b.pushb(1)
    elif pattern == "loop":  # forever: only the step limit ends it
        b.label("forever").pushb(1).pop().jmp("forever")
    elif pattern == "store":  # bytes written at offsets around the quota
        b.push(draw(edges(header.store))).pushb(0).push(draw(edge)).sstore()
    elif pattern == "pcr":
        b.push(draw(st.integers(20, 300))).pushb(0).pcr()
    elif pattern == "hmac":
        b.pushb(0).pushb(32).push(draw(st.integers(60, 70))).pushb(0).pushb(8).hmac256()
    elif pattern == "clock":
        b.push(draw(edge)).clock()
    b.op(draw(st.sampled_from(["halt", "halt", "fail", "nop"])))
    return b.image()


@st.composite
def with_args(draw: st.DrawFn, images: st.SearchStrategy[PlainImage]) -> tuple[PlainImage, bytes]:
    """An image and its arguments: mostly no longer than its memory, sometimes longer (6700)."""
    image = draw(images)
    longest = image.header.memory if draw(st.integers(0, 9)) else 60
    return image, draw(st.binary(max_size=min(longest, 60)))


# --- the property ----------------------------------------------------------------------------


def run_and_check(session: SecureCardSession, image: PlainImage, args: bytes, loaded: bool) -> None:
    closures = session.closures
    try:
        if loaded:
            closures.load(image)
            try:
                out = closures.run(image.header.name, args)
            finally:
                closures.remove(image.header.name)
        else:
            out = closures.run_image(image, args)
    except ClosureError as exc:
        sw = exc.sw
        event(f"stopped {sw:04X}" if sw & 0xFF00 != C.SW_CLOSURE_FAILED else "FAIL")
        assert (
            sw in DOCUMENTED or sw & 0xFF00 == C.SW_CLOSURE_FAILED or sw in COUNTED_KEY_REFUSALS
        ), f"undocumented SW {sw:04X} from {image.header} code {image.code.hex()}"
        if sw & 0xFF00 == C.SW_CLOSURE_FAILED:
            assert exc.fail_code == sw & 0xFF
    else:
        event("finished")
        assert len(out) <= image.header.output
        assert VICTIM_STORE[:12] not in out  # nothing of the other closure's store comes out
    # The card answers the next command, inside the same session, and the victim kept its store.
    assert session.core.echo(b"next") == b"next"
    assert closures.run("victim") == VICTIM_STORE
    assert [c.name for c in closures.list()] == ["victim"]


FUZZ = settings(
    max_examples=int(os.environ.get("TPMCARD_FUZZ_EXAMPLES", "800")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
    derandomize=False,
)  # fmt: skip


@FUZZ
@given(case=with_args(random_code_images()))
def test_random_code_stops_with_a_documented_status_word(
    fuzz_card: SecureCardSession, case: tuple[PlainImage, bytes]
) -> None:
    run_and_check(fuzz_card, *case, loaded=False)


@FUZZ
@given(case=with_args(hostile_images()))
@example(  # the deepest stack plus one
    case=(Builder("deep", stack=32, steps=100).pushb(1).label("p").pushb(1).jmp("p").image(), b"")
)
@example(case=(Builder("loop", steps=C.MAX_STEPS).label("l").jmp("l").image(), b""))  # step cap
@example(case=(Builder("pcr24", memory=32).pushb(24).pushb(0).pcr().halt().image(), b""))
def test_hostile_programs_stay_within_their_bounds(
    fuzz_card: SecureCardSession, case: tuple[PlainImage, bytes]
) -> None:
    run_and_check(fuzz_card, *case, loaded=False)


@settings(FUZZ, max_examples=max(20, FUZZ.max_examples // 3))
@given(case=with_args(st.one_of(hostile_images(store=True), random_code_images(store=True))))
@example(  # writes its whole quota and one byte past it: 6606, nothing of it kept
    case=(
        Builder("over", memory=64, store=16, steps=50)
        .pushb(0).pushb(0).pushb(17).sstore().halt().image(),
        b"",
    )
)  # fmt: skip
@example(  # reads as far as the card's store cap: its own quota ends first
    case=(
        Builder("reach", memory=256, store=1, steps=50)
        .pushb(0).pushb(0).push(C.MAX_STORE).sload().halt().image(),
        b"",
    )
)  # fmt: skip
def test_loaded_programs_reach_no_store_but_their_own(
    fuzz_card: SecureCardSession, case: tuple[PlainImage, bytes]
) -> None:
    run_and_check(fuzz_card, *case, loaded=True)


@pytest.fixture(scope="module")
def pcsc_fuzz_card(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureCardSession]:
    """The same over PC/SC (pcscd + vpcd): the session's fresh shared card, the victim loaded."""
    with _bound_card("pcsc", request, tmp_path_factory.mktemp("fuzz-pcsc")) as card:
        with card.connect() as session:
            session.closures.load(victim_image())
            assert session.closures.run("victim", VICTIM_STORE) == VICTIM_STORE
            yield session


@pytest.mark.pcsc
@settings(FUZZ, max_examples=max(10, FUZZ.max_examples // 20))
@given(case=with_args(st.one_of(hostile_images(), random_code_images())))
def test_hostile_programs_over_pcsc(
    pcsc_fuzz_card: SecureCardSession, case: tuple[PlainImage, bytes]
) -> None:
    """A smaller run of the same properties through the real PC/SC stack."""
    run_and_check(pcsc_fuzz_card, *case, loaded=False)
