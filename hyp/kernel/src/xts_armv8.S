// AES-XTS-256 over whole 512-byte sectors with the ARMv8 Cryptography
// Extension (AESE/AESMC, AESD/AESIMC). Written from the ARM ARM's
// instruction descriptions, FIPS-197 and IEEE 1619-2007; see xts_armv8.rs.
//
// void janus_xts_aes256(const u8 data_keys[15][16],   // x0
//                       const u8 tweak_keys[15][16],  // x1
//                       u8 *destination,              // x2
//                       u64 sectors,                  // x3
//                       u64 first_sector,             // x4
//                       u64 decrypt,                  // x5
//                       const u8 *source);            // x6
//
// Reads sectors * 512 bytes at source and writes the result to destination:
// the same buffer (in place) or two that do not overlap. Each group of four
// blocks is loaded before it is stored, so in place is exact.
//
// data_keys: Key1's encryption schedule (round keys 0..14) when decrypt == 0,
// its decryption schedule for AESD (k14, IMC(k13) .. IMC(k1), k0) otherwise.
// tweak_keys: Key2's encryption schedule. Sector i of the buffer is data
// unit first_sector + i: tweak T = AES-Enc(Key2, sector as 128-bit LE), then
// block j uses T * x^j in GF(2^128) (little-endian, feedback 0x87).
//
// The hypervisor's FP/SIMD registers hold the running guest's state: every
// V register used here (all 32) is saved on the stack at entry and restored
// before returning. FPCR and FPSR are neither read nor written (none of the
// instructions below reads FPCR or sets FPSR). General registers: only the
// argument registers and x9..x11 (caller-saved) change.
//
// Registers:
//   v0-v3    four data blocks in flight
//   v4-v7    their tweaks
//   v8       scratch for the tweak doubling
//   v0-v14, v15  (only while encrypting a sector's tweak) Key2's schedule, T
//   v16-v30  Key1's schedule for this direction
//   v31      {0x87, 1}: the doubling's carries (low lane, high lane)

    .arch_extension fp
    .arch_extension simd
    .arch_extension aes

// dst = src * x in GF(2^128). tmp is clobbered.
.macro janus_xts_double dst, src, tmp
    sshr    \tmp\().2d, \src\().2d, #63              // each lane's top bit, as a mask
    ext     \tmp\().16b, \tmp\().16b, \tmp\().16b, #8 // swap: high carry -> low lane
    and     \tmp\().16b, \tmp\().16b, v31.16b        // {high ? 0x87 : 0, low ? 1 : 0}
    add     \dst\().2d, \src\().2d, \src\().2d       // both lanes << 1
    eor     \dst\().16b, \dst\().16b, \tmp\().16b
.endm

// One round on the four blocks: \op with round key \key, then \mix.
.macro janus_xts_round4 op, mix, key
    \op     v0.16b, \key\().16b
    \mix    v0.16b, v0.16b
    \op     v1.16b, \key\().16b
    \mix    v1.16b, v1.16b
    \op     v2.16b, \key\().16b
    \mix    v2.16b, v2.16b
    \op     v3.16b, \key\().16b
    \mix    v3.16b, v3.16b
.endm

// All sectors, one direction. \op/\mix: aese/aesmc or aesd/aesimc.
// In: x1 tweak schedule, x2 destination, x6 source, x3 sectors (> 0), x4 first sector,
// v16-v30 data schedule, v31 the doubling constant.
.macro janus_xts_sectors op, mix
1:  // T = AES-Enc(Key2, sector number as a 128-bit little-endian integer).
    mov     x9, x1
    ld1     {v0.16b-v3.16b}, [x9], #64
    ld1     {v4.16b-v7.16b}, [x9], #64
    ld1     {v8.16b-v11.16b}, [x9], #64
    ld1     {v12.16b-v14.16b}, [x9]
    fmov    d15, x4                                 // upper 64 bits become 0
    aese    v15.16b, v0.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v1.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v2.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v3.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v4.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v5.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v6.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v7.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v8.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v9.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v10.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v11.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v12.16b
    aesmc   v15.16b, v15.16b
    aese    v15.16b, v13.16b
    eor     v4.16b, v15.16b, v14.16b                // T for block 0
    mov     x10, #8                                 // 8 groups of 4 blocks
2:  janus_xts_double v5, v4, v8
    janus_xts_double v6, v5, v8
    janus_xts_double v7, v6, v8
    ld1     {v0.16b-v3.16b}, [x6], #64
    eor     v0.16b, v0.16b, v4.16b
    eor     v1.16b, v1.16b, v5.16b
    eor     v2.16b, v2.16b, v6.16b
    eor     v3.16b, v3.16b, v7.16b
    janus_xts_round4 \op, \mix, v16
    janus_xts_round4 \op, \mix, v17
    janus_xts_round4 \op, \mix, v18
    janus_xts_round4 \op, \mix, v19
    janus_xts_round4 \op, \mix, v20
    janus_xts_round4 \op, \mix, v21
    janus_xts_round4 \op, \mix, v22
    janus_xts_round4 \op, \mix, v23
    janus_xts_round4 \op, \mix, v24
    janus_xts_round4 \op, \mix, v25
    janus_xts_round4 \op, \mix, v26
    janus_xts_round4 \op, \mix, v27
    janus_xts_round4 \op, \mix, v28
    \op     v0.16b, v29.16b                         // last round: no (Inv)MixColumns
    \op     v1.16b, v29.16b
    \op     v2.16b, v29.16b
    \op     v3.16b, v29.16b
    eor     v0.16b, v0.16b, v30.16b
    eor     v1.16b, v1.16b, v30.16b
    eor     v2.16b, v2.16b, v30.16b
    eor     v3.16b, v3.16b, v30.16b
    eor     v0.16b, v0.16b, v4.16b
    eor     v1.16b, v1.16b, v5.16b
    eor     v2.16b, v2.16b, v6.16b
    eor     v3.16b, v3.16b, v7.16b
    st1     {v0.16b-v3.16b}, [x2], #64
    janus_xts_double v4, v7, v8                     // T for the next group's block 0
    subs    x10, x10, #1
    b.ne    2b
    add     x4, x4, #1
    subs    x3, x3, #1
    b.ne    1b
.endm

    .pushsection .text.janus_xts_aes256, "ax", %progbits
    .balign 16
    .global janus_xts_aes256
    .type   janus_xts_aes256, %function
janus_xts_aes256:
    stp     q0, q1, [sp, #-512]!
    stp     q2, q3, [sp, #32]
    stp     q4, q5, [sp, #64]
    stp     q6, q7, [sp, #96]
    stp     q8, q9, [sp, #128]
    stp     q10, q11, [sp, #160]
    stp     q12, q13, [sp, #192]
    stp     q14, q15, [sp, #224]
    stp     q16, q17, [sp, #256]
    stp     q18, q19, [sp, #288]
    stp     q20, q21, [sp, #320]
    stp     q22, q23, [sp, #352]
    stp     q24, q25, [sp, #384]
    stp     q26, q27, [sp, #416]
    stp     q28, q29, [sp, #448]
    stp     q30, q31, [sp, #480]
    cbz     x3, 9f
    mov     x9, #0x87
    fmov    d31, x9
    mov     x9, #1
    mov     v31.d[1], x9
    ld1     {v16.16b-v19.16b}, [x0], #64
    ld1     {v20.16b-v23.16b}, [x0], #64
    ld1     {v24.16b-v27.16b}, [x0], #64
    ld1     {v28.16b-v30.16b}, [x0]
    cbnz    x5, 5f
    janus_xts_sectors aese, aesmc
    b       9f
5:  janus_xts_sectors aesd, aesimc
9:  // Restore the guest's registers; this also overwrites every key and
    // data block left in v0-v31.
    ldp     q2, q3, [sp, #32]
    ldp     q4, q5, [sp, #64]
    ldp     q6, q7, [sp, #96]
    ldp     q8, q9, [sp, #128]
    ldp     q10, q11, [sp, #160]
    ldp     q12, q13, [sp, #192]
    ldp     q14, q15, [sp, #224]
    ldp     q16, q17, [sp, #256]
    ldp     q18, q19, [sp, #288]
    ldp     q20, q21, [sp, #320]
    ldp     q22, q23, [sp, #352]
    ldp     q24, q25, [sp, #384]
    ldp     q26, q27, [sp, #416]
    ldp     q28, q29, [sp, #448]
    ldp     q30, q31, [sp, #480]
    ldp     q0, q1, [sp], #512
    ret
    .size   janus_xts_aes256, . - janus_xts_aes256
    .popsection
