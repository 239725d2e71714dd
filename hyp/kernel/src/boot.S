// Janus entry: the arm64 Linux Image header, self-relocation, and the
// primary and secondary entry points. Runs at EL2 with the MMU off.

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry           // code0
    .word   0                       // code1
    .quad   0x80000                 // text_offset: load 512 KiB into a 2 MiB-aligned block
    .quad   0                       // image_size: patched by xtask to cover image + payload
    .quad   0xa                     // flags: little-endian, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .word   0                       // res5

primary_entry:
    mov     x19, x0                 // the board DTB (arm64 boot protocol)
    adrp    x20, __image_start      // where we actually run

    // Apply R_AARCH64_RELATIVE relocations: *(base + offset) = base + addend.
    adrp    x1, __rela_start
    add     x1, x1, :lo12:__rela_start
    adrp    x2, __rela_end
    add     x2, x2, :lo12:__rela_end
1:  cmp     x1, x2
    b.hs    2f
    ldp     x3, x4, [x1], #16       // r_offset, r_info
    ldr     x5, [x1], #8            // r_addend
    cmp     w4, #1027               // R_AARCH64_RELATIVE
    b.ne    1b
    add     x5, x5, x20
    str     x5, [x20, x3]
    b       1b

    // Zero .bss (page aligned at both ends by the linker script).
2:  adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
3:  cmp     x1, x2
    b.hs    4f
    stp     xzr, xzr, [x1], #16
    b       3b

4:  adrp    x1, BOOT_STACK
    add     x1, x1, :lo12:BOOT_STACK
    add     x1, x1, #BOOT_STACK_SIZE
    mov     sp, x1
    adrp    x1, janus_vectors
    add     x1, x1, :lo12:janus_vectors
    msr     vbar_el2, x1
    // CPTR_EL2 (E2H = 0 layout): nothing traps — the guests own FP/SIMD and
    // Janus' AES-XTS routine saves and restores the registers it uses.
    // RES1 bits 13:12 and 9:0; TFP, TTA, TAM, TCPAC clear. Its reset value
    // is UNKNOWN, so set it on every core.
    mov     x1, #0x33ff
    msr     cptr_el2, x1
    isb
    mov     x0, x19
    mov     x1, x20
    bl      janus_primary_main
5:  wfe
    b       5b

// Secondary cores arrive here from the firmware's PSCI CPU_ON with
// x0 = the core index Janus passed as context_id.
.global janus_secondary_entry
janus_secondary_entry:
    mov     x19, x0
    adrp    x1, janus_vectors
    add     x1, x1, :lo12:janus_vectors
    msr     vbar_el2, x1
    // CPTR_EL2 (E2H = 0 layout): nothing traps — the guests own FP/SIMD and
    // Janus' AES-XTS routine saves and restores the registers it uses.
    // RES1 bits 13:12 and 9:0; TFP, TTA, TAM, TCPAC clear. Its reset value
    // is UNKNOWN, so set it on every core.
    mov     x1, #0x33ff
    msr     cptr_el2, x1
    isb
    // sp = per-core stack top - trap frame
    adrp    x1, CPU_STACKS
    add     x1, x1, :lo12:CPU_STACKS
    mov     x2, #CPU_STACK_SIZE
    add     x3, x19, #1
    madd    x1, x2, x3, x1
    sub     sp, x1, #TRAP_FRAME_SIZE
    mov     x0, x19
    bl      janus_secondary_main
6:  wfe
    b       6b
