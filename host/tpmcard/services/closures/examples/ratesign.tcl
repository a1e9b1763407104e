; A rate-limited signer: at most LIMIT ECDSA P-256 signatures per epoch, an epoch being PERIOD
; seconds of the host TPM's Clock as this session's handshake quote proved it (CLOCK). The
; argument is the message (0..32 bytes, e.g. a SHA-256 digest); the answer is the signatures
; given in this epoch so far, this one included (2 bytes), then the DER ECDSA-SHA-256 signature
; of the message by the count-limited key HANDLE (docs/counted-keys.md). The LIMIT+1st run in an
; epoch stops with FAIL 1 (SW 6401) before the key is used: no signature, no charge.
;
; Give the key an auth value (KEYAUTH, up to 16 bytes) that only this closure knows: the closure
; presents it, and without it the host cannot use the key around the closure (KEY USE needs it).
;
; The store keeps the highest epoch seen and its count. A session whose clock lies behind it
; (a power loss, a cleared TPM, another host) counts against that stored epoch: a clock going
; back never gives a fresh budget. A clock moved forward by the TPM's owner (TPM2_ClockSet) does
; open a new epoch: docs/binding.md 3.10 and docs/closures.md say what that means. The key is
; used before the store is written (the card allows no key use after a store write in a run);
; both commit when the run halts, and a run that stops before gives nothing. Load it: it needs
; its store.
;
; memory:  0..32 the message   32..40 stored epoch   40..42 its count
;          42..63 the key: handle 4, auth length 1, auth   64..136 the signature, written over
;          what is spent by then: 64..72 clock, then seconds, then the epoch; 72..76 division work
; store:   0..8 epoch   8..10 count
.name    ratesign
.version 1
.stack   6
.memory  136
.output  74
.store   10
.steps   400

    arglen              ; at most 32 bytes of message, else FAIL 2
    pushb 33
    ult
    jnz message
    pushb 2
    fail
message:
    pushb 42
    data x"8c000001" 0  ; @KEYRECORD the key's handle, auth length, auth
    pushb 64
    clock               ; the TPM's Clock in ms at the handshake, 8 bytes
    pushb 0             ; ms -> s: clock / 1000 on 64 bits, a 16-bit limb at a time
    pushb 64
seconds:
    swap
    pushb 72
    store16
    dup
    load16
    pushb 74
    store16
    pushb 72
    push 1000
    div32
    pushb 74
    load16
    rot
    dup
    rot
    swap
    store16
    pushb 2
    add
    dup
    pushb 72
    eq
    jz seconds
    pop
    pop
    pushb 0             ; s -> epoch: / PERIOD
    pushb 64
epoch:
    swap
    pushb 72
    store16
    dup
    load16
    pushb 74
    store16
    pushb 72
    push 3600           ; @PERIOD seconds (1..32767)
    div32
    pushb 74
    load16
    rot
    dup
    rot
    swap
    store16
    pushb 2
    add
    dup
    pushb 72
    eq
    jz epoch
    pop
    pop
    pushb 32            ; the stored epoch and count
    pushb 0
    pushb 10
    sload
    pushb 0             ; compare the epochs, most significant limb first
compare:
    dup
    pushb 64
    add
    load16
    over
    pushb 32
    add
    load16              ; ( j now stored )
    over
    over
    ult
    jnz behind          ; now < stored
    swap
    ult
    jnz ahead           ; stored < now
    pushb 2
    add
    dup
    pushb 8
    eq
    jz compare
    pop                 ; the same epoch
    jmp count
behind:                 ; the clock is behind the stored epoch: it counts against that one
    pop
    pop
    pop
    jmp count
ahead:                  ; a new epoch: its count starts at 0
    pop
    pushb 32
    pushb 64
    pushb 8
    mcopy
    pushb 0
    pushb 40
    store16
count:
    pushb 40
    load16
    push 3              ; @LIMIT signatures per epoch
    ult
    jz limited
    pushb 42            ; sign first: no key use is allowed after a store write
    pushb 64
    pushb 0
    arglen
    csign               ; ( -- n ): the signature at 64
    pushb 40            ; count + 1, and the store: committed with the key's charge at HALT
    load16
    pushb 1
    add
    pushb 40
    store16
    pushb 0
    pushb 32
    pushb 10
    sstore
    pushb 40
    pushb 2
    out
    pushb 64
    swap
    out
    halt
limited:
    pushb 1
    fail
