//! Bit layouts of ESR_EL2 and of the instruction-specific syndromes it carries.
//!
//! Each layout is declared at its position inside the 64-bit ESR_EL2 value, so
//! every decoder reads fields from the same `LocalRegisterCopy<u64, _>` without
//! shifting by hand. Field names follow the Arm ARM (DDI 0487), section
//! D17.2.37 "ESR_EL2, Exception Syndrome Register (EL2)" and the ISS encodings
//! it links to.

use tock_registers::register_bitfields;

register_bitfields![u64,
    /// ESR_EL2 top-level layout (Arm ARM D17.2.37).
    pub ESR_EL2 [
        /// Instruction Specific Syndrome 2 (FEAT_LS64 and others); unused here.
        ISS2 OFFSET(32) NUMBITS(24) [],
        /// Exception Class: which kind of exception was taken to EL2.
        EC OFFSET(26) NUMBITS(6) [
            /// Unknown reason (for example an undefined instruction).
            Unknown = 0x00,
            /// Trapped WFI or WFE (and WFIT / WFET).
            WaitForInterrupt = 0x01,
            /// Access to SVE, Advanced SIMD or floating point trapped by CPTR_EL2.
            FloatingPointAccess = 0x07,
            /// HVC executed in AArch64 state.
            Hypercall64 = 0x16,
            /// SMC executed in AArch64 state, trapped by HCR_EL2.TSC.
            SecureMonitorCall64 = 0x17,
            /// Trapped MSR, MRS or System instruction in AArch64 state.
            SystemRegister64 = 0x18,
            /// Instruction Abort from a lower Exception level.
            InstructionAbortLowerLevel = 0x20,
            /// Data Abort from a lower Exception level.
            DataAbortLowerLevel = 0x24
        ],
        /// Instruction Length: 1 for a 32-bit instruction, 0 for a 16-bit one.
        IL OFFSET(25) NUMBITS(1) [
            Sixteen = 0,
            ThirtyTwo = 1
        ],
        /// Instruction Specific Syndrome.
        ISS OFFSET(0) NUMBITS(25) []
    ],

    /// ISS for EC 0x01, trapped WFI / WFE (Arm ARM D17.2.37, "ISS encoding
    /// for an exception from a WF* instruction").
    pub WAIT_FOR_INTERRUPT_ISS [
        /// Trapped instruction type.
        TI OFFSET(0) NUMBITS(2) [
            WaitForInterrupt = 0b00,
            WaitForEvent = 0b01,
            WaitForInterruptWithTimeout = 0b10,
            WaitForEventWithTimeout = 0b11
        ]
    ],

    /// ISS for EC 0x16 / 0x17, HVC and SMC (Arm ARM D17.2.37, "ISS encoding
    /// for an exception from an HVC or SVC instruction" and "... SMC ...").
    pub CALL_ISS [
        /// The immediate operand of the instruction.
        IMM16 OFFSET(0) NUMBITS(16) []
    ],

    /// ISS for EC 0x18, trapped MSR / MRS / System instruction (Arm ARM
    /// D17.2.37, "ISS encoding for an exception from MSR, MRS, or System
    /// instruction execution in AArch64 state").
    pub SYSTEM_REGISTER_ISS [
        OP0 OFFSET(20) NUMBITS(2) [],
        OP2 OFFSET(17) NUMBITS(3) [],
        OP1 OFFSET(14) NUMBITS(3) [],
        CRN OFFSET(10) NUMBITS(4) [],
        /// The general-purpose register transferred; 31 means XZR.
        RT OFFSET(5) NUMBITS(5) [],
        CRM OFFSET(1) NUMBITS(4) [],
        /// 0: write to the register (MSR, SYS); 1: read (MRS, SYSL).
        DIRECTION OFFSET(0) NUMBITS(1) [
            Write = 0,
            Read = 1
        ]
    ],

    /// ISS for EC 0x20 / 0x21, Instruction Abort (Arm ARM D17.2.37, "ISS
    /// encoding for an exception from an Instruction Abort").
    pub INSTRUCTION_ABORT_ISS [
        /// Synchronous error type.
        SET OFFSET(11) NUMBITS(2) [],
        /// FAR not Valid.
        FNV OFFSET(10) NUMBITS(1) [],
        /// External abort type.
        EA OFFSET(9) NUMBITS(1) [],
        /// Stage 2 fault on a stage 1 translation table walk.
        S1PTW OFFSET(7) NUMBITS(1) [],
        /// Instruction Fault Status Code.
        IFSC OFFSET(0) NUMBITS(6) []
    ],

    /// ISS for EC 0x24 / 0x25, Data Abort (Arm ARM D17.2.37, "ISS encoding for
    /// an exception from a Data Abort").
    pub DATA_ABORT_ISS [
        /// Instruction Syndrome Valid: bits [23:14] hold a valid syndrome.
        ISV OFFSET(24) NUMBITS(1) [],
        /// Syndrome Access Size.
        SAS OFFSET(22) NUMBITS(2) [
            Byte = 0b00,
            Halfword = 0b01,
            Word = 0b10,
            Doubleword = 0b11
        ],
        /// Syndrome Sign Extend: the load sign-extends the loaded item.
        SSE OFFSET(21) NUMBITS(1) [],
        /// Syndrome Register Transfer: the general-purpose register number.
        SRT OFFSET(16) NUMBITS(5) [],
        /// Sixty-Four bit general-purpose register transfer (X, not W).
        SF OFFSET(15) NUMBITS(1) [],
        /// Acquire / Release semantics.
        AR OFFSET(14) NUMBITS(1) [],
        /// FAR not Valid.
        FNV OFFSET(10) NUMBITS(1) [],
        /// External abort type.
        EA OFFSET(9) NUMBITS(1) [],
        /// Cache Maintenance: the abort came from a cache maintenance or
        /// address translation instruction.
        CM OFFSET(8) NUMBITS(1) [],
        /// Stage 2 fault on a stage 1 translation table walk.
        S1PTW OFFSET(7) NUMBITS(1) [],
        /// Write not Read.
        WNR OFFSET(6) NUMBITS(1) [],
        /// Data Fault Status Code.
        DFSC OFFSET(0) NUMBITS(6) []
    ]
];

register_bitfields![u8,
    /// A 6-bit DFSC / IFSC value (Arm ARM D17.2.37, DFSC and IFSC fields).
    /// Most codes are a 4-bit fault kind followed by a 2-bit lookup level.
    pub FAULT_STATUS_CODE [
        /// The fault kind, for the codes that carry a level.
        KIND OFFSET(2) NUMBITS(4) [
            AddressSize = 0b0000,
            Translation = 0b0001,
            AccessFlag = 0b0010,
            Permission = 0b0011,
            SynchronousExternalAbortOnTableWalk = 0b0101
        ],
        /// Lookup level 0..=3, for the kinds above.
        LEVEL OFFSET(0) NUMBITS(2) [],
        /// The whole 6-bit code, for the codes without a level.
        CODE OFFSET(0) NUMBITS(6) [
            SynchronousExternalAbort = 0b01_0000,
            Alignment = 0b10_0001,
            TlbConflict = 0b11_0000
        ]
    ]
];
