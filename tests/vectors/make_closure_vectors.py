"""Writes tests/vectors/closures.json: closure programs (assembler source and the plain image it
assembles to) and what the card answers when they run: the output, or the status word.

Expected outputs come from outside the engine: RFC 4226 (HOTP), RFC 4231 (HMAC-SHA-256), hashlib,
and arithmetic worked out by hand in the comments. Read by applets/src/test/java/tpmcard/mtpm/
ClosureEngineTest.java and tests/closures/test_vectors.py. Run: .venv/bin/python this file.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from tpmcard.services.closures import assemble

HERE = Path(__file__).parent


def run(args: bytes = b"", output: bytes | None = None, sw: int | None = None) -> dict[str, str]:
    entry = {"args": args.hex()}
    if output is not None:
        entry["output"] = output.hex()
    else:
        assert sw is not None
        entry["sw"] = f"{sw:04X}"
    return entry


def vector(source: str, runs: list[dict[str, str]], load: bool = False) -> dict[str, Any]:
    image = assemble(source)
    return {
        "name": image.header.name,
        "source": source.strip() + "\n",
        "image": image.encode().hex(),
        "load": load,
        "runs": runs,
    }


def shorts(*values: int) -> bytes:
    return b"".join(struct.pack(">H", v & 0xFFFF) for v in values)


ARITH = """
.name arith
.memory 32
.output 24
.stack 8
; each result is stored big-endian at memory[2i] and all 12 go out at the end
push 7
push 6
mul
push 2
sub          ; 40
push 0
store16
push -7
push 2
div          ; -3 (toward zero)
push 2
store16
push -7
push 2
mod          ; -1 (sign of the dividend)
push 4
store16
push 0x8000
push 15
shr          ; 1 (logical)
push 6
store16
push 1
push 15
shl          ; 0x8000
push 8
store16
push 1
push -1
ult          ; 1 (unsigned: 1 < 0xFFFF)
push 10
store16
push 1
push -1
lt           ; 0 (signed)
push 12
store16
push 0
not          ; 0xFFFF
push 14
store16
push 0x00F0
push 0x0FF0
xor          ; 0x0F00
push 16
store16
push 1
push 2
push 3
rot          ; ( 2 3 1 )
sub          ; 3 - 1 = 2
sub          ; 2 - 2 = 0
push 18
store16
push 5
push 9
over         ; ( 5 9 5 )
swap         ; ( 5 5 9 )
sub          ; 5 - 9 = -4
add          ; 1
push 20
store16
push 32767
push 1
add          ; wraps to -32768
push 22
store16
push 0
push 24
out
halt
"""

SUM = """
.name sum
.memory 4
.output 2
.stack 4
.steps 2000
; sum 1..100 = 5050; memory[0..2) = i, memory[2..4) = sum
    push 100
    push 0
    store16
loop:
    push 2
    load16
    push 0
    load16
    add
    push 2
    store16
    push 0
    load16
    push 1
    sub
    dup
    push 0
    store16
    jnz loop
    push 2
    push 2
    out
    halt
"""

HOTP = (
    """
.name hotp
.memory 64
.output 6
.stack 8
.steps 200
; RFC 4226: args = counter (8 bytes) at memory[0..8); key at 8..28; HMAC at 28..48;
; the truncated word at 48..52; six ASCII digits at 52..58
    pushb 8
    data "12345678901234567890"
    pushb 28
    pushb 8
    pushb 20
    pushb 0
    pushb 8
    hmac1
    pushb 47        ; offset = HMAC[19] & 0x0F
    load8
    pushb 15
    and
    pushb 28
    add             ; ( src )
    pushb 48
    swap            ; ( dst src )
    pushb 4
    mcopy
    pushb 48        ; clear the top bit
    load8
    pushb 0x7F
    and
    pushb 48
    store8
"""
    + "".join(
        "    pushb 48\n    pushb 10\n    div32\n    pushb '0'\n    add\n"
        f"    pushb {57 - i}\n    store8\n"
        for i in range(6)
    )
    + """    pushb 52
    pushb 6
    out
    halt
"""
)

SHA = """
.name sha
.memory 96
.output 32
.stack 4
; SHA-256 of the args (at memory[0..n)) to memory[64..96)
    pushb 64
    pushb 0
    arglen
    sha256
    pushb 64
    pushb 32
    out
    halt
"""

HMAC256 = """
.name hmac
.memory 96
.output 32
.stack 6
; RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    pushb 0
    data "Jefe"
    pushb 4
    data "what do ya want for nothing?"
    pushb 64        ; dst
    pushb 0         ; key
    pushb 4
    pushb 4         ; msg
    pushb 28
    hmac256
    pushb 64
    pushb 32
    out
    halt
"""

WORDS = """
.name words
.memory 8
.output 12
.stack 4
; ADD32: FFFFFFFF + 1 = 0 carry 1; DIV32: 1000000 / 7 = 142857 remainder 1
    pushb 0
    data x"FFFFFFFF000F4240"
    pushb 0
    pushb 1
    add32           ; carry
    pushb 4
    pushb 7
    div32           ; ( carry rem )
    pushb 0
    pushb 8
    out             ; 00000000 0002 2E09 (142857)
    push 0
    store16         ; rem -> memory[0..2)
    push 2
    store16         ; carry -> memory[2..4)
    pushb 0
    pushb 4
    out
    halt
"""

COUNTER = """
.name {name}
.memory 4
.output 2
.stack 4
.store 2
; store[0..2) += 1, output the new value; with args: FAIL 7 after the store write (rolled back)
    pushb 0
    pushb 0
    pushb 2
    sload
    pushb 0
    load16
    pushb 1
    add
    pushb 0
    store16
    pushb 0
    pushb 0
    pushb 2
    sstore
    arglen
    jz done
    pushb 7
    fail
done:
    pushb 0
    pushb 2
    out
    halt
"""


def violation(name: str, body: str, sw: int, args: bytes = b"", **fields: int) -> dict[str, Any]:
    header = "".join(
        f".{k} {v}\n" for k, v in {"memory": 8, "output": 4, "stack": 4, **fields}.items()
    )
    return vector(f".name {name}\n{header}{body}", [run(args, sw=sw)])


def main() -> None:
    hotp_codes = [b"755224", b"287082", b"359152"]  # RFC 4226 Appendix D, counts 0..2
    vectors = [
        vector(
            ARITH, [run(output=shorts(40, -3, -1, 1, 0x8000, 1, 0, 0xFFFF, 0x0F00, 0, 1, -32768))]
        ),
        vector(SUM, [run(output=shorts(5050))]),
        vector(HOTP, [run(struct.pack(">Q", i), code) for i, code in enumerate(hotp_codes)]),
        vector(
            SHA, [run(b"abc", hashlib.sha256(b"abc").digest()), run(b"", hashlib.sha256().digest())]
        ),
        vector(
            HMAC256,
            [
                run(
                    output=bytes.fromhex(
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
                    )
                )
            ],
        ),
        vector(WORDS, [run(output=bytes.fromhex("0000000000022e09") + shorts(1, 1))]),
        vector(
            COUNTER.format(name="count"),
            [
                run(output=shorts(1)),
                run(output=shorts(2)),
                run(b"\x01", sw=0x6407),
                run(output=shorts(3)),
            ],
            load=True,
        ),
        violation("steps", "l:\n jmp l\n", 0x6601, steps=100),
        violation("push", "l:\n pushb 1\n jmp l\n", 0x6602),
        violation("pop", "pop\nhalt\n", 0x6602),
        violation("mem", "pushb 8\nload8\nhalt\n", 0x6603),
        violation("memneg", "push -1\npushb 1\npushb 0\nmfill\nhalt\n", 0x6603),
        violation("memlen", "pushb 4\npushb 5\npushb 0\nmfill\nhalt\n", 0x6603),
        violation("jump", "jmp 999\n", 0x6604),
        violation("datapast", 'pushb 0\ndata "ab"\n', 0x6604),
        violation("badop", "pushb 1\nnop\n", 0x6604),
        violation("offend", "pushb 1\n", 0x6604),
        violation("output", "pushb 0\npushb 5\nout\nhalt\n", 0x6605),
        violation("store", "pushb 0\npushb 0\npushb 1\nsstore\nhalt\n", 0x6606),
        violation("div0", "pushb 1\npushb 0\ndiv\nhalt\n", 0x6607),
        violation("div32", "pushb 0\npushb 0\ndiv32\nhalt\n", 0x6607),
        violation("pcr", "pushb 24\npushb 0\npcr\nhalt\n", 0x6608, memory=32),
        violation(
            "hmackey",
            "pushb 0\npushb 0\npushb 65\npushb 0\npushb 0\nhmac256\nhalt\n",
            0x6608,
            memory=100,
            stack=6,
        ),
        violation("fail", "pushb 42\nfail\n", 0x642A),
        violation("clock", "pushb 1\nclock\nhalt\n", 0x6603),  # 8 bytes of clock at 1: past 8
        violation("args", "halt\n", 0x6700, args=bytes(9)),
    ]
    # What the assembler cannot write: a byte that is no opcode (the NOP of "badop" becomes EE),
    # DATA whose length runs past the code ("datapast": 2 becomes 16).
    patches = {
        "badop": (-1, 0xEE, "the last byte (NOP) replaced by EE, no opcode"),
        "datapast": (-3, 0x10, "DATA's length byte 2 replaced by 16, past the code"),
    }
    for v in vectors:
        if v["name"] in patches:
            at, value, why = patches[v["name"]]
            image = bytearray.fromhex(v["image"])
            image[at] = value
            v["image"] = image.hex()
            v["source"] += f"; {why}\n"
    out = {
        "description": __doc__.strip().splitlines()[0],
        "vectors": vectors,
        "provider_programs": provider_programs(),
    }
    (HERE / "closures.json").write_text(json.dumps(out, indent=1) + "\n")


PKEY = """
.name   pkey        ; a P-256 key of its own in the ECDSA provider (number 5)
.stack  8
.memory 120
.output 72
.steps  200
    arglen
    jz gen          ; no args: generate
    arglen
    pushb 4
    eq
    jnz del         ; the handle alone: delete
    pushb 5         ; handle || message: sign
    push 0x0038     ; SIGN (P1 0)
    pushb 0
    arglen
    pushb 48        ; the DER signature (<= 72) at memory[48..120)
    pcall
    pushb 48
    swap
    out
    halt
gen:
    pushb 5
    push 0x0620     ; KEY_GENERATE, P1 = KEY_EC_P256
    pushb 0
    pushb 0
    pushb 0         ; handle 4 || point 65 at memory[0..69)
    pcall
    pushb 0
    swap
    out
    halt
del:
    pushb 5
    pushb 0x24      ; KEY_DELETE
    pushb 0
    pushb 4
    pushb 4
    pcall
    pop
    halt
"""

SHA3 = """
.name   sha3        ; SHA3-256 of the args through the SHA3 provider (number 2): keyless
.stack  8
.memory 96
.output 32
.steps  50
    pushb 2
    pushb 0x34      ; DIGEST
    pushb 0
    arglen
    pushb 64
    pcall
    pushb 64
    swap
    out
    halt
"""


def provider_programs() -> dict[str, Any]:
    """PCALL programs (docs/closures.md "Providers"): ClosureProvidersTest and
    tests/closures/test_providers.py. SHA3-256 answers are FIPS 202's examples (hashlib)."""
    out: dict[str, Any] = {}
    for source in (PKEY, SHA3):
        image = assemble(source)
        out[image.header.name] = {"source": source.strip() + "\n", "image": image.encode().hex()}
    out["sha3"]["runs"] = [
        run(m, hashlib.sha3_256(m).digest()) for m in (b"", b"abc", bytes(range(64)))
    ]
    return out


if __name__ == "__main__":
    main()
