//! Bit layouts of the GIC registers this crate encodes or decodes.
//!
//! Field names and positions follow IHI 0069H chapter 12 (GICv3) and IHI
//! 0048B §4.3 / §5.3 (GICv2). Tests check the layouts against values built by
//! hand, independently of these declarations.

use tock_registers::register_bitfields;

register_bitfields![u64,
    /// `ICH_LR<n>_EL2`, List Registers (IHI 0069H chapter 12, `ICH_LR<n>_EL2`).
    pub ICH_LR [
        /// Virtual INTID of the interrupt.
        VINTID OFFSET(0) NUMBITS(32) [],
        /// Physical INTID, for hardware interrupts (HW = 1). With HW = 0, bit
        /// 41 is EOI (maintenance interrupt on deactivation), never set here.
        PINTID OFFSET(32) NUMBITS(13) [],
        /// Priority of the virtual interrupt.
        PRIORITY OFFSET(48) NUMBITS(8) [],
        /// Group: 0 for Group 0, 1 for Group 1.
        GROUP OFFSET(60) NUMBITS(1) [],
        /// The virtual interrupt corresponds to a physical interrupt that the
        /// guest's deactivation deactivates.
        HW OFFSET(61) NUMBITS(1) [],
        /// State of the interrupt.
        STATE OFFSET(62) NUMBITS(2) [
            Invalid = 0b00,
            Pending = 0b01,
            Active = 0b10,
            PendingActive = 0b11
        ]
    ],

    /// ICC_SGI1R_EL1, SGI Group 1 Register (IHI 0069H chapter 12,
    /// ICC_SGI1R_EL1).
    pub ICC_SGI1R [
        /// One bit per Aff0 value `RS * 16 + bit` in the target cluster.
        TARGET_LIST OFFSET(0) NUMBITS(16) [],
        /// Affinity level 1 of the target cluster.
        AFF1 OFFSET(16) NUMBITS(8) [],
        /// The SGI's INTID.
        INTID OFFSET(24) NUMBITS(4) [],
        /// Affinity level 2 of the target cluster.
        AFF2 OFFSET(32) NUMBITS(8) [],
        /// Interrupt Routing Mode: 1 targets every PE except the sender.
        IRM OFFSET(40) NUMBITS(1) [],
        /// Range Selector: TargetList covers Aff0 `RS * 16 ..= RS * 16 + 15`.
        RS OFFSET(44) NUMBITS(4) [],
        /// Affinity level 3 of the target cluster.
        AFF3 OFFSET(48) NUMBITS(8) []
    ],

    /// `GICD_IROUTER<n>`, Interrupt Routing Registers (IHI 0069H chapter 12,
    /// `GICD_IROUTER<n>`).
    pub GICD_IROUTER [
        /// Affinity level 0.
        AFF0 OFFSET(0) NUMBITS(8) [],
        /// Affinity level 1.
        AFF1 OFFSET(8) NUMBITS(8) [],
        /// Affinity level 2.
        AFF2 OFFSET(16) NUMBITS(8) [],
        /// Interrupt_Routing_Mode: 1 routes to any participating PE.
        IRM OFFSET(31) NUMBITS(1) [],
        /// Affinity level 3.
        AFF3 OFFSET(32) NUMBITS(8) []
    ],

    /// GICR_TYPER, Redistributor Type Register (IHI 0069H chapter 12,
    /// GICR_TYPER).
    pub GICR_TYPER [
        /// Physical LPIs supported.
        PLPIS OFFSET(0) NUMBITS(1) [],
        /// Virtual LPIs supported.
        VLPIS OFFSET(1) NUMBITS(1) [],
        /// This is the last redistributor of the region.
        LAST OFFSET(4) NUMBITS(1) [],
        /// A unique number for the PE, used by the ITS.
        PROCESSOR_NUMBER OFFSET(8) NUMBITS(16) [],
        /// Affinity level 0 of the PE this redistributor serves.
        AFF0 OFFSET(32) NUMBITS(8) [],
        /// Affinity level 1.
        AFF1 OFFSET(40) NUMBITS(8) [],
        /// Affinity level 2.
        AFF2 OFFSET(48) NUMBITS(8) [],
        /// Affinity level 3.
        AFF3 OFFSET(56) NUMBITS(8) []
    ]
];

register_bitfields![u32,
    /// `GICH_LR<n>`, List Registers (IHI 0048B §5.3.8).
    pub GICH_LR [
        /// Virtual INTID of the interrupt.
        VIRTUAL_ID OFFSET(0) NUMBITS(10) [],
        /// With HW = 1 the physical INTID. With HW = 0, bits \[12:10\] are the
        /// CPUID of an SGI's source and bit 19 is EOI (maintenance interrupt
        /// on completion), neither set here.
        PHYSICAL_ID OFFSET(10) NUMBITS(10) [],
        /// Upper five bits of the priority.
        PRIORITY OFFSET(23) NUMBITS(5) [],
        /// State of the interrupt.
        STATE OFFSET(28) NUMBITS(2) [
            Invalid = 0b00,
            Pending = 0b01,
            Active = 0b10,
            PendingActive = 0b11
        ],
        /// Group 1 interrupt (signalled as a virtual IRQ).
        GROUP1 OFFSET(30) NUMBITS(1) [],
        /// The virtual interrupt corresponds to a physical interrupt.
        HW OFFSET(31) NUMBITS(1) []
    ],

    /// GICD_SGIR, Software Generated Interrupt Register (IHI 0048B §4.3.15).
    pub GICD_SGIR [
        /// The SGI's INTID.
        SGIINTID OFFSET(0) NUMBITS(4) [],
        /// Group selection for Secure writes; ignored for a guest.
        NSATT OFFSET(15) NUMBITS(1) [],
        /// One bit per target CPU interface.
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        /// How the targets are chosen.
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [
            TargetList = 0b00,
            AllButSelf = 0b01,
            SelfOnly = 0b10,
            Reserved = 0b11
        ]
    ],

    /// GICD_CTLR, Distributor Control Register: GICv3 Non-secure view of a
    /// GIC with two Security states (IHI 0069H chapter 12, GICD_CTLR) and
    /// GICv2 without the Security Extensions (IHI 0048B §4.3.1).
    pub GICD_CTLR [
        /// GICv2: Enable (forward pending interrupts to the CPU interfaces).
        ENABLE OFFSET(0) NUMBITS(1) [],
        /// GICv3: EnableGrp1A, enable Non-secure Group 1 interrupts.
        ENABLE_GRP1A OFFSET(1) NUMBITS(1) [],
        /// GICv3: ARE_NS, affinity routing enabled for Non-secure state.
        ARE_NS OFFSET(4) NUMBITS(1) [],
        /// GICv3: Register Write Pending.
        RWP OFFSET(31) NUMBITS(1) []
    ],

    /// GICD_TYPER, Interrupt Controller Type Register (IHI 0069H chapter 12,
    /// GICD_TYPER; IHI 0048B §4.3.2).
    pub GICD_TYPER [
        /// 32 × (N + 1) interrupt lines.
        IT_LINES_NUMBER OFFSET(0) NUMBITS(5) [],
        /// Number of PEs (CPU interfaces) minus one.
        CPU_NUMBER OFFSET(5) NUMBITS(3) [],
        /// Two Security states supported.
        SECURITY_EXTN OFFSET(10) NUMBITS(1) [],
        /// GICv3: message-based SPIs supported.
        MBIS OFFSET(16) NUMBITS(1) [],
        /// GICv3: LPIs supported.
        LPIS OFFSET(17) NUMBITS(1) [],
        /// GICv3: number of INTID bits minus one.
        ID_BITS OFFSET(19) NUMBITS(5) [],
        /// GICv3: 1 of N SPI routing not supported.
        NO1N OFFSET(25) NUMBITS(1) [],
        /// GICv3: SGI Range Selector supported.
        RSS OFFSET(26) NUMBITS(1) []
    ],

    /// GICD_IIDR / GICR_IIDR, Implementer Identification Register (IHI 0069H
    /// chapter 12, GICD_IIDR; IHI 0048B §4.3.3).
    pub IIDR [
        /// JEP106 code of the implementer.
        IMPLEMENTER OFFSET(0) NUMBITS(12) [],
        /// Minor revision.
        REVISION OFFSET(12) NUMBITS(4) [],
        /// Major revision.
        VARIANT OFFSET(16) NUMBITS(4) [],
        /// Product identifier.
        PRODUCT_ID OFFSET(24) NUMBITS(8) []
    ],

    /// GICD_PIDR2 / GICR_PIDR2 / ICPIDR2, Peripheral ID2 Register (IHI 0069H
    /// chapter 12, GICD_PIDR2; IHI 0048B §4.3.18 "Identification registers").
    pub PIDR2 [
        /// Bits \[6:4\] of the JEP106 identity code.
        DES_1 OFFSET(0) NUMBITS(3) [],
        /// A JEDEC-assigned identity code is used.
        JEDEC OFFSET(3) NUMBITS(1) [],
        /// Architecture revision: 2 for GICv2, 3 for GICv3.
        ARCH_REV OFFSET(4) NUMBITS(4) []
    ],

    /// GICR_WAKER, Redistributor Wake Register (IHI 0069H chapter 12,
    /// GICR_WAKER).
    pub GICR_WAKER [
        /// The PE is asleep; the redistributor does not forward interrupts.
        PROCESSOR_SLEEP OFFSET(1) NUMBITS(1) [],
        /// Read-only: the interface to the PE is quiescent.
        CHILDREN_ASLEEP OFFSET(2) NUMBITS(1) []
    ]
];
