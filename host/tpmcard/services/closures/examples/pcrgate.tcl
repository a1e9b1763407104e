; A PCR-gated secret: releases its embedded secret only while the combined PCR view (host PCRs
; 0..8 as this session's quote proved them, card PCRs 9..23) holds the values it was built for.
; Else FAIL 1 (SW 6401), nothing released.
;
; The policy is the list of PCR indices in the DATA line at 128 (COUNT of them, in order) and
; EXPECTED = the value a zeroed PCR would have after extending it with each of those PCRs'
; values in that order: h = 0^32; h = SHA-256(h || PCR[i]) for each i. `tpmcard closure example
; show pcrgate --from-session --set INDICES=0,7,9 --set SECRET=HEX` computes it from the card's
; PCR view now. The secret at 96 (SECRETLEN bytes, up to 32) and EXPECTED below are
; placeholders: build it with your own.
;
; memory:  0..32 h   32..64 a PCR value   64..96 EXPECTED   96..128 the secret
;          128..152 the policy's indices
.name    pcrgate
.version 1
.stack   6
.memory  152
.output  32
.steps   300

    pushb 64
    data x"0000000000000000000000000000000000000000000000000000000000000000"   ; @EXPECTED
    pushb 96
    data "replace me"   ; @SECRET
    pushb 128
    data 0 7            ; @INDICES
    pushb 0             ; ( k ): the policy's k-th index
extend:
    dup
    pushb 128
    add
    load8
    pushb 32
    pcr                 ; memory[32..64) := PCR[index]
    pushb 0
    pushb 0
    pushb 64
    sha256              ; h := SHA-256(h || PCR[index])
    pushb 1
    add
    dup
    pushb 2             ; @COUNT
    eq
    jz extend
    pop
    pushb 0
    pushb 64
    pushb 32
    meq                 ; constant time
    jz refuse
    pushb 96
    pushb 10            ; @SECRETLEN
    out
    halt
refuse:
    pushb 1
    fail
