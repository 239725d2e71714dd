// EL2 exception vectors (ARM ARM D1.10.2) and the one way into a guest.
// A trap from a guest saves its general registers, ELR_EL2 and SPSR_EL2 in
// a TrapFrame at the top of the core's stack and calls into Rust.

.macro SAVE_FRAME
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x30, x0, [sp, #240]
    str     x1, [sp, #256]
.endm

.macro VECTOR handler
    .balign 0x80
    SAVE_FRAME
    mov     x0, sp
    bl      \handler
    b       janus_restore_frame
.endm

// A guest's IRQ or FIQ. Its handler reads and writes no guest register, so
// only what a Rust call may clobber is saved (x0-x18 and x30, AAPCS64 §6.1.1;
// x19-x29 and SP are preserved by the callee). ELR_EL2 and SPSR_EL2 stay as
// they are: Janus takes no other exception while it handles this one (EL2
// runs with interrupts masked; a fault in Janus stops the core), and a
// handler that parks the core never returns here. The save, the call and the
// restore fit in the 32-instruction vector slot.
.macro IRQ_VECTOR handler
    .balign 0x80
    sub     sp, sp, #TRAP_FRAME_SIZE
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    bl      \handler
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret
.endm

.section .text.vectors, "ax"
.balign 0x800
.global janus_vectors
janus_vectors:
    // Current EL with SP_EL0 and SP_ELx: a fault in Janus itself.
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    VECTOR  janus_hypervisor_fault
    // Lower EL, AArch64: the guest.
    VECTOR  janus_lower_synchronous
    IRQ_VECTOR janus_lower_irq
    IRQ_VECTOR janus_lower_irq
    VECTOR  janus_lower_serror
    // Lower EL, AArch32: Janus sets HCR_EL2.RW, so only EL0 can be AArch32.
    VECTOR  janus_lower_synchronous
    IRQ_VECTOR janus_lower_irq
    IRQ_VECTOR janus_lower_irq
    VECTOR  janus_lower_serror

.global janus_restore_frame
janus_restore_frame:
    ldr     x1, [sp, #256]
    ldp     x30, x0, [sp, #240]
    msr     elr_el2, x0
    msr     spsr_el2, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #TRAP_FRAME_SIZE
    eret

// janus_enter_guest(frame_top): sp = frame_top - TRAP_FRAME_SIZE, which holds
// the TrapFrame to load, then eret. Every entry into a guest resets the
// stack, so parking and restarting a vCPU never leaks stack.
.global janus_enter_guest
janus_enter_guest:
    sub     sp, x0, #TRAP_FRAME_SIZE
    b       janus_restore_frame
