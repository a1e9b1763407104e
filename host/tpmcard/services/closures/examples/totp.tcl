; TOTP (RFC 6238) with HMAC-SHA-1: an 8-digit code for the Unix time the host gives, from the
; closure's own key. The argument is the time, 8 bytes big-endian seconds since 1970; the time
; step is 30 s (PERIOD) from T0 = 0. The host chooses the time: it can ask for the code of any step,
; past or future (docs/closures.md "TOTP" says why the card cannot check it); the key stays
; inside the card. Runs loaded or from a host-held image (no store).
;
; The key below is RFC 6238's SHA-1 test secret "12345678901234567890" (Appendix B): put your
; own: `tpmcard closure example show totp --set KEY=HEX [--set PERIOD=S] [--set DIGITS=N]`.
;
; memory:  0..8 the time, then the time step T   8..12 division work   16..48 HMAC
;          48..52 truncated value   52..60 the digits   64..128 the key
.name    totp
.version 1
.stack   6
.memory  128
.output  8           ; @DIGITS
.steps   600

    arglen              ; exactly 8 bytes of time, else FAIL 1
    pushb 8
    eq
    jnz time
    pushb 1
    fail
time:
    pushb 64
    data x"3132333435363738393031323334353637383930"   ; @KEY
    ; T = time / 30 on 64 bits: long division, one 16-bit limb at a time (DIV32's quotient of
    ; remainder:limb by a divisor up to 32767 fits 16 bits)
    pushb 0             ; ( rem a ): the remainder so far, the limb's address
    pushb 0
limb:
    swap
    pushb 8
    store16             ; work[0..2) := remainder
    dup
    load16
    pushb 10
    store16             ; work[2..4) := limb
    pushb 8
    push 30             ; @PERIOD the time step, seconds
    div32               ; ( a rem ): work := quotient
    pushb 10
    load16
    rot
    dup
    rot
    swap
    store16             ; limb := quotient
    pushb 2
    add
    dup
    pushb 8
    eq
    jz limb
    pop
    pop
    pushb 16            ; HMAC-SHA-1(key, T) -> 16..36
    pushb 64
    pushb 20            ; @KEYLEN
    pushb 0
    pushb 8
    hmac1
    ; dynamic truncation (RFC 4226 §5.3): offset = low nibble of the last byte
    pushb 35            ; 16 + 20 - 1
    load8
    pushb 15
    and
    pushb 16
    add
    pushb 48
    swap
    pushb 4
    mcopy
    pushb 48
    load8
    pushb 0x7f
    and
    pushb 48
    store8
    pushb 8             ; @DIGITS: value mod 10^DIGITS, least significant digit first
digit:
    pushb 48
    pushb 10
    div32
    pushb '0'
    add
    over
    pushb 51
    add
    store8
    pushb 1
    sub
    dup
    jnz digit
    pop
    pushb 52
    pushb 8             ; @DIGITS
    out
    halt
