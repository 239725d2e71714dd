// Test guest entry at EL1 (MMU off): arm64 Image header, self-relocation,
// stacks, EL1 vectors.

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry
    .word   0
    .quad   0                       // text_offset: at the start of RAM
    .quad   0                       // image_size: patched by xtask
    .quad   0xa
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .word   0

primary_entry:
    bl      guest_snapshot_el1      // before anything changes them (residue.rs)
    mov     x19, x0
    adrp    x20, __image_start
    adrp    x1, __rela_start
    add     x1, x1, :lo12:__rela_start
    adrp    x2, __rela_end
    add     x2, x2, :lo12:__rela_end
1:  cmp     x1, x2
    b.hs    2f
    ldp     x3, x4, [x1], #16
    ldr     x5, [x1], #8
    cmp     w4, #1027
    b.ne    1b
    add     x5, x5, x20
    str     x5, [x20, x3]
    b       1b
2:  adrp    x1, guest_vectors
    add     x1, x1, :lo12:guest_vectors
    msr     vbar_el1, x1
    isb
    adrp    x1, GUEST_STACKS
    add     x1, x1, :lo12:GUEST_STACKS
    add     x1, x1, #GUEST_STACK_SIZE
    mov     sp, x1
    mov     x0, x19
    bl      guest_primary_main
3:  wfi
    b       3b

.global guest_secondary_entry
guest_secondary_entry:
    adrp    x1, guest_vectors
    add     x1, x1, :lo12:guest_vectors
    msr     vbar_el1, x1
    isb
    adrp    x1, GUEST_STACKS
    add     x1, x1, :lo12:GUEST_STACKS
    add     x1, x1, #GUEST_STACK_SIZE
    add     x1, x1, #GUEST_STACK_SIZE
    mov     sp, x1
    bl      guest_secondary_main
4:  wfi
    b       4b

// EL1 vectors: every synchronous exception from EL1h goes to Rust, which
// returns the address to resume at.
.macro GUEST_VECTOR handler
    .balign 0x80
    sub     sp, sp, #256
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    str     x30, [sp, #160]
    mrs     x0, esr_el1
    mrs     x1, far_el1
    mrs     x2, elr_el1
    mov     x3, x30
    bl      \handler
    msr     elr_el1, x0
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x29, [sp, #144]
    ldr     x30, [sp, #160]
    add     sp, sp, #256
    eret
.endm

.section .text.vectors, "ax"
.balign 0x800
guest_vectors:
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_irq
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
    GUEST_VECTOR guest_exception
