; HOTP (RFC 4226): a 6-digit one-time password from the closure's own key and a counter kept in
; the closure's store. Each run answers the code for the stored counter and advances it, in the
; run's one transaction: a code is never given twice, and a run that fails gives none and
; advances nothing. Load it (tpmcard closure load) so that it has its store.
;
; The key below is RFC 4226's test secret "12345678901234567890" (Appendix D). Your own (1..64
; bytes): `tpmcard closure example show hotp --set KEY=HEX -o hotp.tcl` (KEY and KEYLEN, DIGITS
; 6..8), then build and seal it; once sealed, the key exists only inside the card.
; Lines whose comment starts with @NAME take parameter NAME (docs/closures.md "Examples").
;
; memory:  0..8 counter (big-endian)  8..28 HMAC-SHA-1  28..32 truncated value
;          32..38 the digits           40..104 the key
; store:   0..8 counter
.name    hotp
.version 1
.stack   6
.memory  104
.output  6           ; @DIGITS
.store   8
.steps   400

    pushb 40
    data x"3132333435363738393031323334353637383930"   ; @KEY
    pushb 0             ; the counter, from the store
    pushb 0
    pushb 8
    sload
    pushb 8             ; HMAC-SHA-1(key, counter) -> 8..28
    pushb 40
    pushb 20            ; @KEYLEN
    pushb 0
    pushb 8
    hmac1
    pushb 4             ; counter + 1 (64-bit): the low word, then its carry into the high word
    pushb 1
    add32
    pushb 0
    swap
    add32
    pop
    pushb 0             ; store it back: committed only when the run halts
    pushb 0
    pushb 8
    sstore
    ; dynamic truncation (RFC 4226 §5.3): offset = low nibble of the last byte
    pushb 27            ; 8 + 20 - 1: the last byte of the HMAC
    load8
    pushb 15
    and
    pushb 8
    add
    pushb 28            ; memory[28..32) := the 4 bytes at the offset
    swap
    pushb 4
    mcopy
    pushb 28            ; clear the top bit: a 31-bit value
    load8
    pushb 0x7f
    and
    pushb 28
    store8
    ; the digits, least significant first: value mod 10^6, one DIV32 by 10 per digit
    pushb 6             ; @DIGITS
digit:
    pushb 28
    pushb 10
    div32               ; ( i -- i r )
    pushb '0'
    add
    over
    pushb 31            ; 32 - 1: digit i goes to 32 + i - 1
    add
    store8
    pushb 1
    sub
    dup
    jnz digit
    pop
    pushb 32
    pushb 6             ; @DIGITS
    out
    halt
