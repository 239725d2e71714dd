//! What a board is, as data: RAM, cores, the interrupt controller, the UART,
//! the disk, and the guest-visible device layout. Board crates under `boards/`
//! fill it in; the hypervisor checks it against the firmware's device tree at boot.

use crate::addr::{GuestPhysAddr, PhysAddr, PhysRange};

/// Most physical cores a board description may list.
pub const MAX_CPUS: usize = 8;

/// One physical core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    /// The MPIDR affinity fields (Aff3..Aff0) the firmware reports for it,
    /// without bit 31 or the MT/U bits: exactly what PSCI `CPU_ON` takes.
    pub mpidr: u64,
}

/// The physical interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicDescription {
    /// GICv3: distributor plus one redistributor frame pair per core.
    V3 {
        /// GICD base.
        distributor: PhysAddr,
        /// First GICR frame.
        redistributor: PhysAddr,
        /// Bytes between consecutive cores' GICR frames (0x20000 for GICv3).
        redistributor_stride: u64,
    },
    /// GICv2 / GIC-400 with virtualization extensions.
    V2 {
        /// GICD base.
        distributor: PhysAddr,
        /// GICC base (physical CPU interface).
        cpu_interface: PhysAddr,
        /// GICH base (virtual interface control).
        hypervisor_interface: PhysAddr,
        /// GICV base (virtual CPU interface, mapped to guests at their GICC).
        virtual_cpu_interface: PhysAddr,
    },
}

/// A button wired to a PL061 GPIO line (QEMU virt's power key, a Pi GPIO
/// pin): pressing it switches the foreground personality like `Ctrl-]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpioButton {
    /// The PL061 controller (owned by Janus).
    pub controller: PhysAddr,
    /// The line the button is on (0..8).
    pub line: u8,
    /// The controller's interrupt ID (an SPI).
    pub interrupt: u32,
}

/// Bytes of one virtio-mmio transport window, as Janus probes the board's
/// transports and as each personality's device tree describes its disk: the
/// registers (virtio 1.2 §4.2.2, offsets 0x000..0x100) and the device
/// configuration space after them. QEMU virt spaces its transports this far
/// apart.
pub const VIRTIO_MMIO_WINDOW_SIZE: u64 = 0x200;

/// Where the hypervisor finds its physical disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageDescription {
    /// virtio-mmio transports: `slots` windows of `stride` bytes from `base`;
    /// the hypervisor probes them for a block device (virtio 1.2 §4.2.3.1.1:
    /// magic, version, device ID 2). Janus polls, so no interrupt is named.
    VirtioMmio {
        /// The first transport's registers.
        base: PhysAddr,
        /// How many transports there are.
        slots: u32,
        /// Bytes between consecutive transports (at least
        /// [`VIRTIO_MMIO_WINDOW_SIZE`]).
        stride: u64,
    },
}

/// A board, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardDescription {
    /// Short name, e.g. `qemu-virt`.
    pub name: heapless::String<32>,
    /// The RAM the board provides (as Janus is run on it).
    pub ram: PhysRange,
    /// The part of RAM that Janus keeps for itself: its image, the embedded
    /// guest payload, heap, stacks and page tables. No personality may use it.
    pub hypervisor: PhysRange,
    /// Physical cores, by index. Manifests name cores by this index.
    pub cpus: heapless::Vec<Cpu, MAX_CPUS>,
    /// The physical console UART (a PL011) the hypervisor owns.
    pub uart: PhysAddr,
    /// Its interrupt ID (an SPI): keyboard input and the hotkey.
    pub uart_interrupt: u32,
    /// The physical interrupt controller.
    pub gic: GicDescription,
    /// Where each personality sees its own emulated PL011 console.
    pub guest_uart: GuestPhysAddr,
    /// The interrupt ID (an SPI) of each personality's emulated PL011, as
    /// its device tree names it.
    pub guest_uart_interrupt: u32,
    /// A button that switches the foreground personality, if the board has one.
    pub hotkey_button: Option<GpioButton>,
    /// Where the hypervisor finds its physical disk; `None` on a board
    /// without storage (no personality may then have a disk).
    pub storage: Option<StorageDescription>,
    /// Where each personality's emulated virtio-blk (virtio-mmio) disk
    /// appears in its guest-physical map: a [`VIRTIO_MMIO_WINDOW_SIZE`]
    /// window, present only for personalities that have a disk.
    pub guest_disk: GuestPhysAddr,
    /// The interrupt ID (an SPI) of each personality's emulated disk, as its
    /// device tree names it.
    pub guest_disk_interrupt: u32,
}
