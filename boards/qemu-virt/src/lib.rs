//! QEMU `virt` as data: what the board has, and how QEMU must be started so
//! that it matches (Bao's `virt_desc.c`, Hubris' "a board is a file").
#![forbid(unsafe_code)]

use std::path::Path;

use janus_platform::{BoardDescription, Cpu, DmaMaster, GicDescription, GuestPhysAddr, PhysAddr, PhysRange, StorageDescription};

/// The board's name, as manifests spell it (GICv3).
pub const NAME: &str = "qemu-virt";
/// xtask's name for the same board run with a GICv2 (`gic-version=2`), as
/// on the Raspberry Pi 4. Its description is still called `qemu-virt`, so
/// one manifest serves both interrupt controllers.
pub const NAME_GICV2: &str = "qemu-virt-gicv2";
/// RAM QEMU is given: 2 GiB from 0x4000_0000.
pub const RAM_START: u64 = 0x4000_0000;
/// RAM size in MiB (`-m`).
pub const RAM_MIB: u64 = 2048;
/// Janus keeps the first 128 MiB of RAM: its image at +512 KiB, the guest
/// payload after it, then page tables.
pub const HYPERVISOR_SIZE: u64 = 128 << 20;
/// Cores (`-smp`).
pub const CORES: u64 = 4;
/// QEMU virt's virtio-mmio transports: 32 windows of 0x200 bytes from
/// 0x0a00_0000 (INTIDs 48..80, unused: Janus polls its disk).
pub const VIRTIO_MMIO_BASE: u64 = 0x0a00_0000;
/// How many virtio-mmio transports QEMU virt has.
pub const VIRTIO_MMIO_SLOTS: u32 = 32;
/// Bytes between QEMU virt's virtio-mmio transports.
pub const VIRTIO_MMIO_STRIDE: u64 = 0x200;
const _: () = assert!(VIRTIO_MMIO_STRIDE >= janus_platform::VIRTIO_MMIO_WINDOW_SIZE);
/// The `-drive id` of Janus' physical disk.
pub const DISK_DRIVE_ID: &str = "janus-disk";

/// The board description embedded in every qemu-virt image.
pub fn description() -> BoardDescription {
    describe(NAME, GicDescription::V3 { distributor: PhysAddr(0x0800_0000), redistributor: PhysAddr(0x080a_0000), redistributor_stride: 0x2_0000 })
}

/// The qemu-virt board with QEMU's GICv2 (GICD, GICC, GICH, GICV frames).
pub fn description_gicv2() -> BoardDescription {
    describe(
        NAME,
        GicDescription::V2 {
            distributor: PhysAddr(0x0800_0000),
            cpu_interface: PhysAddr(0x0801_0000),
            hypervisor_interface: PhysAddr(0x0803_0000),
            virtual_cpu_interface: PhysAddr(0x0804_0000),
        },
    )
}

fn describe(board_name: &str, gic: GicDescription) -> BoardDescription {
    let mut name = heapless::String::new();
    let _ = name.push_str(board_name);
    let mut cpus = heapless::Vec::new();
    for index in 0..CORES {
        // QEMU virt numbers cores in clusters of 8: Aff0 = index % 8, Aff1 = index / 8.
        let _ = cpus.push(Cpu { mpidr: (index % 8) | ((index / 8) << 8) });
    }
    BoardDescription {
        name,
        ram: PhysRange::new(RAM_START, RAM_MIB << 20),
        hypervisor: PhysRange::new(RAM_START, HYPERVISOR_SIZE),
        cpus,
        uart: PhysAddr(0x0900_0000),
        gic,
        guest_uart: GuestPhysAddr(0x0900_0000),
        guest_uart_interrupt: 33,
        uart_interrupt: 33,
        // QEMU's power key (QMP system_powerdown): PL061 line 3, SPI 7.
        hotkey_button: Some(janus_platform::GpioButton { controller: PhysAddr(0x0903_0000), line: 3, interrupt: 39 }),
        storage: Some(StorageDescription::VirtioMmio {
            base: PhysAddr(VIRTIO_MMIO_BASE),
            slots: VIRTIO_MMIO_SLOTS,
            stride: VIRTIO_MMIO_STRIDE,
            // hw/arm/virt.c: transport n raises SPI 16 + n.
            first_interrupt: 48,
        }),
        // Where QEMU puts its first virtio-mmio transport, with its SPI 16,
        // so a personality sees the disk where it would on bare QEMU virt.
        guest_disk: GuestPhysAddr(VIRTIO_MMIO_BASE),
        guest_disk_interrupt: 48,
        // hw/arm/virt.c's memory map: the GICv3 ITS (VIRT_GIC_ITS, with
        // gic-version=3) and fw_cfg (VIRT_FW_CFG, whose DMA interface
        // writes guest-given addresses) master DMA.
        dma_masters: [(DmaMaster::GicIts, PhysRange::new(0x0808_0000, 0x2_0000)), (DmaMaster::FirmwareConfig, PhysRange::new(0x0902_0000, 0x1000))]
            .into_iter()
            .collect(),
        // The PL031 RTC (VIRT_RTC) is a plain register block that masters
        // no DMA; nothing else on the board may be passed through (PCIe
        // and the platform bus hold DMA masters, and Janus programs no
        // IOMMU).
        dma_incapable: [PhysRange::new(0x0901_0000, 0x1000)].into_iter().collect(),
    }
}

/// QEMU arguments for the GICv3 board (without `-kernel` and the console).
/// Deterministic: no DTB randomness, a fixed RTC.
pub fn qemu_arguments() -> Vec<String> {
    arguments(3)
}

/// QEMU arguments for the GICv2 board.
pub fn qemu_arguments_gicv2() -> Vec<String> {
    arguments(2)
}

fn arguments(gic_version: u8) -> Vec<String> {
    [
        "-M",
        &format!("virt,virtualization=on,gic-version={gic_version},dtb-randomness=off"),
        "-cpu",
        "cortex-a72",
        "-smp",
        &CORES.to_string(),
        "-m",
        &format!("{RAM_MIB}M"),
        "-rtc",
        "base=2025-01-01T00:00:00,clock=vm",
        // Janus reports a refused boot through semihosting SYS_EXIT, so
        // QEMU exits with a failure status (hyp/kernel/src/power.rs).
        "-semihosting-config",
        "enable=on,target=native",
    ]
    .iter()
    .map(|argument| argument.to_string())
    .collect()
}

/// QEMU arguments that attach `image` (a raw GPT disk) as Janus' physical
/// disk: a modern (virtio 1.x, not legacy) virtio-blk device on the first
/// free virtio-mmio transport, write-back cached.
pub fn qemu_disk_arguments(image: &Path) -> Vec<String> {
    // QEMU option values escape a comma by doubling it.
    let file = image.display().to_string().replace(',', ",,");
    vec![
        "-global".to_owned(),
        "virtio-mmio.force-legacy=false".to_owned(),
        "-drive".to_owned(),
        format!("if=none,format=raw,file={file},id={DISK_DRIVE_ID},cache=writeback"),
        "-device".to_owned(),
        format!("virtio-blk-device,drive={DISK_DRIVE_ID}"),
        // Janus' entropy source for the work disk's data key (a real board
        // has a TRNG; QEMU virt's cortex-a72 has no RNDR).
        "-device".to_owned(),
        "virtio-rng-device".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervisor_region_is_inside_ram_and_cores_are_distinct() {
        let board = description();
        let ram_end = board.ram.end().unwrap();
        assert!(board.hypervisor.start.get() >= board.ram.start.get());
        assert!(board.hypervisor.end().unwrap() <= ram_end);
        let mut mpidrs: Vec<u64> = board.cpus.iter().map(|cpu| cpu.mpidr).collect();
        mpidrs.dedup();
        assert_eq!(mpidrs.len() as u64, CORES);
    }

    #[test]
    fn the_gicv2_variant_differs_only_in_its_gic_and_name() {
        let (v3, v2) = (description(), description_gicv2());
        assert_eq!((v3.ram, v3.hypervisor, &v3.cpus, v3.uart), (v2.ram, v2.hypervisor, &v2.cpus, v2.uart));
        assert!(matches!(v2.gic, GicDescription::V2 { .. }));
        assert_eq!(v2.name.as_str(), NAME);
        assert!(qemu_arguments_gicv2().join(" ").contains("gic-version=2"));
        assert_eq!((v3.storage, v3.guest_disk, v3.guest_disk_interrupt), (v2.storage, v2.guest_disk, v2.guest_disk_interrupt));
    }

    #[test]
    fn storage_is_qemus_virtio_mmio_transports_and_the_guest_disk_its_first_slot() {
        let board = description();
        assert_eq!(board.storage, Some(StorageDescription::VirtioMmio { base: PhysAddr(0x0a00_0000), slots: 32, stride: 0x200, first_interrupt: 48 }));
        assert_eq!(board.guest_disk, GuestPhysAddr(0x0a00_0000));
        // SPI 16, QEMU's first virtio-mmio interrupt.
        assert_eq!(board.guest_disk_interrupt, 48);
    }

    #[test]
    fn disk_arguments_attach_a_modern_virtio_blk_device() {
        let arguments = qemu_disk_arguments(Path::new("/tmp/janus disk.img"));
        assert_eq!(
            arguments,
            [
                "-global",
                "virtio-mmio.force-legacy=false",
                "-drive",
                "if=none,format=raw,file=/tmp/janus disk.img,id=janus-disk,cache=writeback",
                "-device",
                "virtio-blk-device,drive=janus-disk",
                "-device",
                "virtio-rng-device",
            ]
        );
        let escaped = qemu_disk_arguments(Path::new("a,b.img"));
        assert_eq!(escaped[3], "if=none,format=raw,file=a,,b.img,id=janus-disk,cache=writeback");
    }

    #[test]
    fn the_its_and_fw_cfg_master_dma_and_only_the_rtc_is_dma_incapable() {
        for board in [description(), description_gicv2()] {
            assert_eq!(
                board.dma_masters.as_slice(),
                [(DmaMaster::GicIts, PhysRange::new(0x0808_0000, 0x2_0000)), (DmaMaster::FirmwareConfig, PhysRange::new(0x0902_0000, 0x1000)),]
            );
            assert!(board.is_dma_incapable(PhysRange::new(0x0901_0000, 0x1000)));
            assert!(!board.is_dma_incapable(PhysRange::new(0x0901_0000, 0x2000)));
            assert!(!board.is_dma_incapable(PhysRange::new(0x1000_0000, 0x1000)));
        }
    }

    #[test]
    fn qemu_arguments_match_the_description() {
        let arguments = qemu_arguments().join(" ");
        assert!(arguments.contains("gic-version=3"));
        assert!(arguments.contains(&format!("-smp {CORES}")));
        assert!(arguments.contains(&format!("-m {RAM_MIB}M")));
        // A refused boot reaches QEMU's exit status (semihosting SYS_EXIT).
        assert!(arguments.contains("-semihosting-config enable=on,target=native"));
        assert!(arguments.contains("virtualization=on"));
    }
}
