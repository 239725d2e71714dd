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

/// Bytes of a GICv3 distributor (GICD): one 64 KiB frame (IHI 0069H §12.1.1).
pub const GICV3_DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// Bytes of one core's GICv3 redistributor: its RD_base and SGI_base
/// frames, 64 KiB each (IHI 0069H §12.10).
pub const GICV3_REDISTRIBUTOR_SIZE: u64 = 0x2_0000;
/// Bytes of a GICv2 distributor (GICD, IHI 0048B §4.1.2).
pub const GICV2_DISTRIBUTOR_SIZE: u64 = 0x1000;
/// Bytes of a GICv2 physical or virtual CPU interface (GICC, GICV): two
/// 4 KiB pages, GICC_DIR being at 0x1000 (IHI 0048B §4.1.3, §5.5).
pub const GICV2_CPU_INTERFACE_SIZE: u64 = 0x2000;
/// Bytes of a GICv2 virtual interface control block (GICH, IHI 0048B §5.3).
pub const GICV2_HYPERVISOR_INTERFACE_SIZE: u64 = 0x1000;
/// Bytes of a PrimeCell peripheral's register window (PL011 UART, PL061
/// GPIO): one 4 KiB page.
pub const PRIMECELL_WINDOW_SIZE: u64 = 0x1000;
/// Bytes of the guest UART window each personality's device tree describes
/// (Janus' emulated PL011).
pub const GUEST_UART_WINDOW_SIZE: u64 = PRIMECELL_WINDOW_SIZE;

/// One MMIO region of the physical interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicRegion {
    /// GICD.
    Distributor,
    /// The GICv3 redistributors of every core.
    Redistributors,
    /// GICv2 GICC.
    CpuInterface,
    /// GICv2 GICH.
    HypervisorInterface,
    /// GICv2 GICV.
    VirtualCpuInterface,
}

impl GicDescription {
    /// Every MMIO region of the interrupt controller on a board with
    /// `cores` cores, with its architectural size. The redistributors span
    /// `cores` frames of `redistributor_stride` (at least
    /// [`GICV3_REDISTRIBUTOR_SIZE`]) bytes; a span that overflows saturates,
    /// which makes the range wrap (and overlap everything).
    pub fn regions(&self, cores: usize) -> heapless::Vec<(GicRegion, PhysRange), 4> {
        let mut regions = heapless::Vec::new();
        let list: &[(GicRegion, u64, u64)] = match *self {
            Self::V3 { distributor, redistributor, redistributor_stride } => &[
                (GicRegion::Distributor, distributor.get(), GICV3_DISTRIBUTOR_SIZE),
                (GicRegion::Redistributors, redistributor.get(), redistributor_stride.max(GICV3_REDISTRIBUTOR_SIZE).saturating_mul(cores as u64)),
            ],
            Self::V2 { distributor, cpu_interface, hypervisor_interface, virtual_cpu_interface } => &[
                (GicRegion::Distributor, distributor.get(), GICV2_DISTRIBUTOR_SIZE),
                (GicRegion::CpuInterface, cpu_interface.get(), GICV2_CPU_INTERFACE_SIZE),
                (GicRegion::HypervisorInterface, hypervisor_interface.get(), GICV2_HYPERVISOR_INTERFACE_SIZE),
                (GicRegion::VirtualCpuInterface, virtual_cpu_interface.get(), GICV2_CPU_INTERFACE_SIZE),
            ],
        };
        for &(region, start, size) in list {
            // At most four entries, the capacity.
            let _ = regions.push((region, PhysRange::new(start, size)));
        }
        regions
    }
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
    /// magic, version, device ID 2). Transport `n` raises SPI
    /// `first_interrupt + n` when it returns a request.
    VirtioMmio {
        /// The first transport's registers.
        base: PhysAddr,
        /// How many transports there are.
        slots: u32,
        /// Bytes between consecutive transports (at least
        /// [`VIRTIO_MMIO_WINDOW_SIZE`]).
        stride: u64,
        /// The first transport's interrupt ID.
        first_interrupt: u32,
    },
}

impl StorageDescription {
    /// The interrupt of transport `slot`, if the sum does not overflow.
    pub fn interrupt(&self, slot: u32) -> Option<u32> {
        match *self {
            Self::VirtioMmio { first_interrupt, .. } => first_interrupt.checked_add(slot),
        }
    }

    /// Whether one of the transports raises `interrupt`.
    pub fn has_interrupt(&self, interrupt: u32) -> bool {
        match *self {
            Self::VirtioMmio { first_interrupt, slots, .. } => interrupt.checked_sub(first_interrupt).is_some_and(|slot| slot < slots),
        }
    }

    /// The physical range every transport lies in (`slots` windows of
    /// `stride` bytes from `base`); a span that overflows saturates, which
    /// makes the range wrap (and overlap everything).
    pub fn span(&self) -> PhysRange {
        match *self {
            Self::VirtioMmio { base, slots, stride, .. } => PhysRange::new(base.get(), stride.saturating_mul(u64::from(slots))),
        }
    }
}

/// A device on the board that can master DMA and that Janus keeps from
/// every personality: Janus programs no IOMMU, so a guest driving it could
/// make it write any physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaMaster {
    /// A GICv3 Interrupt Translation Service: it reads its tables from, and
    /// writes them to, memory the driver points it at.
    GicIts,
    /// QEMU's firmware configuration device (`fw_cfg`): its DMA interface
    /// writes memory the driver points it at.
    FirmwareConfig,
}

/// Most DMA masters a board description lists.
pub const MAX_DMA_MASTERS: usize = 4;
/// Most DMA-incapable device ranges a board description lists.
pub const MAX_DMA_INCAPABLE: usize = 8;

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
    /// Devices that can master DMA, which no personality may have (besides
    /// Janus' own storage transports).
    pub dma_masters: heapless::Vec<(DmaMaster, PhysRange), MAX_DMA_MASTERS>,
    /// Register ranges of the devices the board declares unable to master
    /// DMA: the only devices a personality may be given (Janus programs no
    /// IOMMU).
    pub dma_incapable: heapless::Vec<PhysRange, MAX_DMA_INCAPABLE>,
}

impl BoardDescription {
    /// Whether `mmio` lies inside one range the board declares DMA-incapable.
    pub fn is_dma_incapable(&self, mmio: PhysRange) -> bool {
        let Some(end) = mmio.end() else { return false };
        self.dma_incapable.iter().any(|range| range.contains_span(mmio.start.get(), end - mmio.start.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gic_regions_have_their_architectural_sizes() {
        let v3 = GicDescription::V3 { distributor: PhysAddr(0x0800_0000), redistributor: PhysAddr(0x080a_0000), redistributor_stride: 0x2_0000 };
        assert_eq!(
            v3.regions(4).as_slice(),
            [(GicRegion::Distributor, PhysRange::new(0x0800_0000, 0x1_0000)), (GicRegion::Redistributors, PhysRange::new(0x080a_0000, 0x8_0000)),]
        );
        let v2 = GicDescription::V2 {
            distributor: PhysAddr(0x0800_0000),
            cpu_interface: PhysAddr(0x0801_0000),
            hypervisor_interface: PhysAddr(0x0803_0000),
            virtual_cpu_interface: PhysAddr(0x0804_0000),
        };
        assert_eq!(
            v2.regions(4).as_slice(),
            [
                (GicRegion::Distributor, PhysRange::new(0x0800_0000, 0x1000)),
                (GicRegion::CpuInterface, PhysRange::new(0x0801_0000, 0x2000)),
                (GicRegion::HypervisorInterface, PhysRange::new(0x0803_0000, 0x1000)),
                (GicRegion::VirtualCpuInterface, PhysRange::new(0x0804_0000, 0x2000)),
            ]
        );
    }

    #[test]
    fn an_overflowing_span_wraps() {
        let huge = GicDescription::V3 { distributor: PhysAddr(0), redistributor: PhysAddr(0x1000), redistributor_stride: u64::MAX };
        assert_eq!(huge.regions(2)[1].1.end(), None);
        let storage = StorageDescription::VirtioMmio { base: PhysAddr(0x0a00_0000), slots: 32, stride: 0x200, first_interrupt: 48 };
        assert_eq!(storage.span(), PhysRange::new(0x0a00_0000, 0x4000));
        let storage = StorageDescription::VirtioMmio { base: PhysAddr(0x1000), slots: 2, stride: u64::MAX, first_interrupt: 48 };
        assert_eq!(storage.span().end(), None);
    }
}
