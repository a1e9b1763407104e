; A rate-limited signer: at most LIMIT ECDSA P-256 signatures per epoch, an epoch being PERIOD
; seconds of the host TPM's Clock as this session's handshake quote proved it (CLOCK). The
; argument is the message (0..32 bytes, e.g. a SHA-256 digest); the answer is the epoch (8
; bytes), the signatures given in it so far (2) and the DER ECDSA-SHA-256 signature of the
; message by the count-limited key in slot KEYSLOT. The
; LIMIT+1st run in an epoch stops with FAIL 1 (SW 6401) and signs nothing.
;
; The store keeps the highest epoch seen and its count. A session whose clock lies behind it
; (a power loss, a cleared TPM, another host) counts against that stored epoch: a clock going
; back never gives a fresh budget. A clock moved forward by the TPM's owner (TPM2_ClockSet) does
; open a new epoch: docs/binding.md 3.10 says what that means. Load it so that it has its store.
;
; memory:  0..32 the message   32..40 clock, then seconds, then the epoch   40..44 division work
;          44..52 stored epoch   52..54 its count; then 32..104 the signature (over what is spent)
; store:   0..8 epoch   8..10 count
.name    ratesign
.version 1
.stack   6
.memory  104
.output  82
.store   10
.steps   400

    arglen              ; at most 32 bytes of message, else FAIL 2
    pushb 33
    ult
    jnz message
    pushb 2
    fail
message:
    pushb 32
    clock               ; the TPM's Clock in ms at the handshake, 8 bytes
    pushb 0             ; ms -> s: clock / 1000 on 64 bits, a 16-bit limb at a time
    pushb 32
seconds:
    swap
    pushb 40
    store16
    dup
    load16
    pushb 42
    store16
    pushb 40
    push 1000
    div32
    pushb 42
    load16
    rot
    dup
    rot
    swap
    store16
    pushb 2
    add
    dup
    pushb 40
    eq
    jz seconds
    pop
    pop
    pushb 0             ; s -> epoch: / PERIOD
    pushb 32
epoch:
    swap
    pushb 40
    store16
    dup
    load16
    pushb 42
    store16
    pushb 40
    push 3600           ; @PERIOD seconds (1..32767)
    div32
    pushb 42
    load16
    rot
    dup
    rot
    swap
    store16
    pushb 2
    add
    dup
    pushb 40
    eq
    jz epoch
    pop
    pop
    pushb 44            ; the stored epoch and count
    pushb 0
    pushb 10
    sload
    pushb 0             ; compare the epochs, most significant limb first
compare:
    dup
    pushb 32
    add
    load16
    over
    pushb 44
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
    pushb 44
    pushb 32
    pushb 8
    mcopy
    pushb 0
    pushb 52
    store16
count:
    pushb 52
    load16
    push 3              ; @LIMIT signatures per epoch
    ult
    jz limited
    pushb 52
    load16
    pushb 1
    add
    pushb 52
    store16
    pushb 0             ; the store: committed with the key's charge when the run halts
    pushb 44
    pushb 10
    sstore
    pushb 44            ; epoch and count to the output, before the signature covers them
    pushb 10
    out
    pushb 0             ; @KEYSLOT
    pushb 32            ; the signature to 32.., over the spent clock and epochs
    pushb 0
    arglen
    csign               ; ( -- siglen )
    pushb 32
    swap
    out
    halt
limited:
    pushb 1
    fail
