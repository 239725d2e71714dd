//! The boot plan's binary encoding (payload format version 4, see
//! [`crate::PAYLOAD_FORMAT_VERSION`]): explicit little-endian fields,
//! length-prefixed strings and lists, no padding. Decoding is total: it never
//! panics and rejects truncation, trailing bytes, bad UTF-8, unknown tags and
//! lists longer than their fixed capacity.
//!
//! ```text
//! board:        name(u8 len, bytes) ram(u64 start, u64 size) hypervisor(u64, u64)
//!               cpus(u8 count, u64 mpidr each) uart(u64)
//!               gic(u8 tag: 2 = v2 with 4 x u64, 3 = v3 with 3 x u64) guest_uart(u64)
//!               guest_uart_interrupt(u32) uart_interrupt(u32)
//!               hotkey_button(u8 0 = none | 1 then u64 controller, u8 line, u32 interrupt)
//!               storage(u8 0 = none | 1 = virtio-mmio then u64 base, u32 slots, u64 stride, u32 first interrupt)
//!               guest_disk(u64) guest_disk_interrupt(u32)
//!               dma_masters(u8 count, each u8 1 = GIC ITS | 2 = fw_cfg, then u64 start, u64 size)
//!               dma_incapable(u8 count, each u64 start, u64 size)
//! console:      u8 0 = switched | 1 = tagged
//! device_key:   u8 0 = none | 1 then 32 bytes
//! personalities: u8 count, then each:
//!               name(u8 len, bytes) cpus(u8 count, u8 each) ram(u64, u64)
//!               kernel(u64 offset, u64 size) kernel_load(u64) entry(u64)
//!               dtb(u64 offset, u64 size) dtb_load(u64)
//!               initrd(u8 0 = none | 1 then u64 offset, u64 size, u64 load)
//!               disk(u8 0 = none | 1 then u8 partition: 0 = personal, 1 = work,
//!                    u8 encrypted: 0 | 1)
//!               devices(u8 count, then each: name(u8 len, bytes)
//!                    mmio(u64 start, u64 size) interrupts(u8 count, u32 each))
//! ```

use janus_platform::{BoardDescription, Cpu, DmaMaster, GicDescription, GuestPhysAddr, PhysAddr, PhysRange, StorageDescription};

use crate::payload::PayloadError;
use crate::plan::{Blob, BootPlan, ConsoleMode, DEVICE_KEY_LENGTH, DevicePlan, DiskPartition, DiskPlan, PersonalityPlan};
use crate::rules::{MAX_DEVICE_INTERRUPTS, MAX_DEVICES, MAX_PERSONALITIES, MAX_VCPUS};

const GIC_V2_TAG: u8 = 2;
const GIC_V3_TAG: u8 = 3;
const STORAGE_VIRTIO_MMIO_TAG: u8 = 1;
const DMA_MASTER_GIC_ITS_TAG: u8 = 1;
const DMA_MASTER_FW_CFG_TAG: u8 = 2;
const PARTITION_PERSONAL_TAG: u8 = 0;
const PARTITION_WORK_TAG: u8 = 1;

/// Upper bound on an encoded plan's length: every list and string full,
/// every optional field present, the larger GIC variant.
pub(crate) const MAX_ENCODED_PLAN_SIZE: usize = {
    let board = (1 + 32) // name
        + 16 + 16 // ram, hypervisor
        + (1 + 8 * janus_platform::MAX_CPUS) // cpus
        + 8 // uart
        + (1 + 32) // gic
        + 8 + 4 + 4 // guest_uart, guest_uart_interrupt, uart_interrupt
        + (1 + 8 + 1 + 4) // hotkey_button
        + (1 + 8 + 4 + 8 + 4) // storage
        + (1 + janus_platform::MAX_DMA_MASTERS * (1 + 16)) // dma masters
        + (1 + janus_platform::MAX_DMA_INCAPABLE * 16) // dma-incapable devices
        + 8 + 4; // guest_disk, guest_disk_interrupt
    let personality = (1 + 16) // name
        + (1 + MAX_VCPUS) // cpus
        + 16 // ram
        + 16 + 8 + 8 // kernel, kernel_load, entry
        + 16 + 8 // dtb, dtb_load
        + (1 + 24) // initrd
        + (1 + 1 + 1) // disk
        + (1 + MAX_DEVICES * ((1 + 16) + 16 + (1 + 4 * MAX_DEVICE_INTERRUPTS))); // devices
    board + 1 + (1 + DEVICE_KEY_LENGTH) + 1 + MAX_PERSONALITIES * personality
};

/// Where the device key lies in an encoded plan (offset, length), if the
/// plan carries one: what the hypervisor scrubs once the disks are up.
pub(crate) fn device_key_span(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut reader = Reader { bytes, consumed: 0 };
    read_board(&mut reader).ok()?;
    reader.u8("console mode").ok()?;
    match reader.u8("device key presence").ok()? {
        1 => Some((reader.consumed, DEVICE_KEY_LENGTH)),
        _ => None,
    }
}

/// Decodes a boot plan from exactly `bytes` (no trailing bytes allowed).
pub fn decode_plan(bytes: &[u8]) -> Result<BootPlan, PayloadError> {
    let mut reader = Reader { bytes, consumed: 0 };
    let board = read_board(&mut reader)?;
    let console = match reader.u8("console mode")? {
        0 => ConsoleMode::Switched,
        1 => ConsoleMode::Tagged,
        value => return Err(PayloadError::PlanInvalidTag { field: "console mode", value }),
    };
    let device_key = match reader.u8("device key presence")? {
        0 => None,
        1 => Some(reader.array::<DEVICE_KEY_LENGTH>("device key")?),
        value => {
            return Err(PayloadError::PlanInvalidTag { field: "device key presence", value });
        }
    };
    let count = reader.u8("personality count")?;
    let mut personalities = heapless::Vec::new();
    for _ in 0..count {
        let personality = read_personality(&mut reader)?;
        personalities.push(personality).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "personalities",
            count: count.into(),
            capacity: MAX_PERSONALITIES,
        })?;
    }
    if !reader.bytes.is_empty() {
        return Err(PayloadError::PlanTrailingBytes { count: reader.bytes.len() as u64 });
    }
    Ok(BootPlan { board, console, personalities, device_key })
}

fn read_board(reader: &mut Reader<'_>) -> Result<BoardDescription, PayloadError> {
    let name = reader.string::<32>("board name")?;
    let ram = reader.range("board ram")?;
    let hypervisor = reader.range("board hypervisor region")?;
    let cpu_count = reader.u8("board cpu count")?;
    let mut cpus = heapless::Vec::new();
    for _ in 0..cpu_count {
        let mpidr = reader.u64("board cpu mpidr")?;
        cpus.push(Cpu { mpidr }).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "board cpus",
            count: cpu_count.into(),
            capacity: janus_platform::MAX_CPUS,
        })?;
    }
    let uart = PhysAddr(reader.u64("board uart")?);
    let gic = match reader.u8("gic version")? {
        GIC_V2_TAG => GicDescription::V2 {
            distributor: PhysAddr(reader.u64("gic distributor")?),
            cpu_interface: PhysAddr(reader.u64("gic cpu interface")?),
            hypervisor_interface: PhysAddr(reader.u64("gic hypervisor interface")?),
            virtual_cpu_interface: PhysAddr(reader.u64("gic virtual cpu interface")?),
        },
        GIC_V3_TAG => GicDescription::V3 {
            distributor: PhysAddr(reader.u64("gic distributor")?),
            redistributor: PhysAddr(reader.u64("gic redistributor")?),
            redistributor_stride: reader.u64("gic redistributor stride")?,
        },
        value => {
            return Err(PayloadError::PlanInvalidTag { field: "gic version", value });
        }
    };
    let guest_uart = GuestPhysAddr(reader.u64("guest uart")?);
    let guest_uart_interrupt = reader.u32("guest uart interrupt")?;
    let uart_interrupt = reader.u32("uart interrupt")?;
    let hotkey_button = match reader.u8("hotkey button")? {
        0 => None,
        1 => Some(janus_platform::GpioButton {
            controller: PhysAddr(reader.u64("hotkey button controller")?),
            line: reader.u8("hotkey button line")?,
            interrupt: reader.u32("hotkey button interrupt")?,
        }),
        value => return Err(PayloadError::PlanInvalidTag { field: "hotkey button", value }),
    };
    let storage = match reader.u8("storage")? {
        0 => None,
        STORAGE_VIRTIO_MMIO_TAG => Some(StorageDescription::VirtioMmio {
            base: PhysAddr(reader.u64("storage base")?),
            slots: reader.u32("storage slots")?,
            stride: reader.u64("storage stride")?,
            first_interrupt: reader.u32("storage interrupt")?,
        }),
        value => return Err(PayloadError::PlanInvalidTag { field: "storage", value }),
    };
    let guest_disk = GuestPhysAddr(reader.u64("guest disk")?);
    let guest_disk_interrupt = reader.u32("guest disk interrupt")?;
    let mut dma_masters = heapless::Vec::new();
    let master_count = reader.u8("board dma master count")?;
    for _ in 0..master_count {
        let master = match reader.u8("board dma master")? {
            DMA_MASTER_GIC_ITS_TAG => DmaMaster::GicIts,
            DMA_MASTER_FW_CFG_TAG => DmaMaster::FirmwareConfig,
            value => return Err(PayloadError::PlanInvalidTag { field: "board dma master", value }),
        };
        let range = reader.range("board dma master range")?;
        dma_masters.push((master, range)).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "board dma masters",
            count: master_count.into(),
            capacity: janus_platform::MAX_DMA_MASTERS,
        })?;
    }
    let mut dma_incapable = heapless::Vec::new();
    let incapable_count = reader.u8("board dma-incapable count")?;
    for _ in 0..incapable_count {
        let range = reader.range("board dma-incapable range")?;
        dma_incapable.push(range).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "board dma-incapable devices",
            count: incapable_count.into(),
            capacity: janus_platform::MAX_DMA_INCAPABLE,
        })?;
    }
    Ok(BoardDescription {
        name,
        ram,
        hypervisor,
        cpus,
        uart,
        gic,
        guest_uart,
        guest_uart_interrupt,
        uart_interrupt,
        hotkey_button,
        storage,
        guest_disk,
        guest_disk_interrupt,
        dma_masters,
        dma_incapable,
    })
}

fn read_personality(reader: &mut Reader<'_>) -> Result<PersonalityPlan, PayloadError> {
    let name = reader.string::<16>("personality name")?;
    let cpu_count = reader.u8("personality cpu count")?;
    let cpu_bytes = reader.take(cpu_count.into(), "personality cpus")?;
    let cpus = heapless::Vec::from_slice(cpu_bytes).map_err(|()| PayloadError::PlanCapacityExceeded {
        field: "personality cpus",
        count: cpu_count.into(),
        capacity: MAX_VCPUS,
    })?;
    let ram = reader.range("personality ram")?;
    let kernel = reader.blob("kernel blob")?;
    let kernel_load = GuestPhysAddr(reader.u64("kernel load address")?);
    let entry = GuestPhysAddr(reader.u64("entry point")?);
    let dtb = reader.blob("device tree blob")?;
    let dtb_load = GuestPhysAddr(reader.u64("device tree load address")?);
    let initrd = match reader.u8("initrd presence")? {
        0 => None,
        1 => Some((reader.blob("initrd blob")?, GuestPhysAddr(reader.u64("initrd load address")?))),
        value => {
            return Err(PayloadError::PlanInvalidTag { field: "initrd presence", value });
        }
    };
    let disk = match reader.u8("disk presence")? {
        0 => None,
        1 => {
            let partition = match reader.u8("disk partition")? {
                PARTITION_PERSONAL_TAG => DiskPartition::Personal,
                PARTITION_WORK_TAG => DiskPartition::Work,
                value => {
                    return Err(PayloadError::PlanInvalidTag { field: "disk partition", value });
                }
            };
            let encrypted = match reader.u8("disk encrypted")? {
                0 => false,
                1 => true,
                value => {
                    return Err(PayloadError::PlanInvalidTag { field: "disk encrypted", value });
                }
            };
            Some(DiskPlan { partition, encrypted })
        }
        value => {
            return Err(PayloadError::PlanInvalidTag { field: "disk presence", value });
        }
    };
    let device_count = reader.u8("device count")?;
    let mut devices = heapless::Vec::new();
    for _ in 0..device_count {
        devices.push(read_device(reader)?).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "devices",
            count: device_count.into(),
            capacity: MAX_DEVICES,
        })?;
    }
    Ok(PersonalityPlan { name, cpus, ram, kernel, kernel_load, entry, dtb, dtb_load, initrd, disk, devices })
}

fn read_device(reader: &mut Reader<'_>) -> Result<DevicePlan, PayloadError> {
    let name = reader.string::<16>("device name")?;
    let mmio = reader.range("device mmio")?;
    let count = reader.u8("device interrupt count")?;
    let mut interrupts = heapless::Vec::new();
    for _ in 0..count {
        interrupts.push(reader.u32("device interrupt")?).map_err(|_| PayloadError::PlanCapacityExceeded {
            field: "device interrupts",
            count: count.into(),
            capacity: MAX_DEVICE_INTERRUPTS,
        })?;
    }
    Ok(DevicePlan { name, mmio, interrupts })
}

/// A cursor over the plan bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    consumed: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize, field: &'static str) -> Result<&'a [u8], PayloadError> {
        let (head, tail) = self.bytes.split_at_checked(length).ok_or(PayloadError::PlanTruncated { field, offset: self.consumed })?;
        self.bytes = tail;
        self.consumed = self.consumed.saturating_add(length as u64);
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PayloadError> {
        let offset = self.consumed;
        self.take(N, field)?.try_into().map_err(|_| PayloadError::PlanTruncated { field, offset })
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, PayloadError> {
        self.array::<1>(field).map(u8::from_le_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, PayloadError> {
        self.array::<4>(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, PayloadError> {
        self.array::<8>(field).map(u64::from_le_bytes)
    }

    fn range(&mut self, field: &'static str) -> Result<PhysRange, PayloadError> {
        Ok(PhysRange::new(self.u64(field)?, self.u64(field)?))
    }

    fn blob(&mut self, field: &'static str) -> Result<Blob, PayloadError> {
        Ok(Blob { offset: self.u64(field)?, size: self.u64(field)? })
    }

    fn string<const N: usize>(&mut self, field: &'static str) -> Result<heapless::String<N>, PayloadError> {
        let length = self.u8(field)?;
        if usize::from(length) > N {
            return Err(PayloadError::PlanCapacityExceeded { field, count: length.into(), capacity: N });
        }
        let text = core::str::from_utf8(self.take(length.into(), field)?).map_err(|_| PayloadError::PlanNotUtf8 { field })?;
        heapless::String::try_from(text).map_err(|()| PayloadError::PlanCapacityExceeded { field, count: length.into(), capacity: N })
    }
}

/// Encodes a boot plan (the inverse of [`decode_plan`]).
#[cfg(feature = "std")]
pub fn encode_plan(plan: &BootPlan) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_ENCODED_PLAN_SIZE);
    let board = &plan.board;
    put_string(&mut out, &board.name);
    put_range(&mut out, board.ram);
    put_range(&mut out, board.hypervisor);
    put_length(&mut out, board.cpus.len());
    for cpu in &board.cpus {
        out.extend_from_slice(&cpu.mpidr.to_le_bytes());
    }
    out.extend_from_slice(&board.uart.get().to_le_bytes());
    match board.gic {
        GicDescription::V2 { distributor, cpu_interface, hypervisor_interface, virtual_cpu_interface } => {
            out.push(GIC_V2_TAG);
            for address in [distributor, cpu_interface, hypervisor_interface, virtual_cpu_interface] {
                out.extend_from_slice(&address.get().to_le_bytes());
            }
        }
        GicDescription::V3 { distributor, redistributor, redistributor_stride } => {
            out.push(GIC_V3_TAG);
            for value in [distributor.get(), redistributor.get(), redistributor_stride] {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&board.guest_uart.get().to_le_bytes());
    out.extend_from_slice(&board.guest_uart_interrupt.to_le_bytes());
    out.extend_from_slice(&board.uart_interrupt.to_le_bytes());
    match board.hotkey_button {
        None => out.push(0),
        Some(button) => {
            out.push(1);
            out.extend_from_slice(&button.controller.get().to_le_bytes());
            out.push(button.line);
            out.extend_from_slice(&button.interrupt.to_le_bytes());
        }
    }
    match board.storage {
        None => out.push(0),
        Some(StorageDescription::VirtioMmio { base, slots, stride, first_interrupt }) => {
            out.push(STORAGE_VIRTIO_MMIO_TAG);
            out.extend_from_slice(&base.get().to_le_bytes());
            out.extend_from_slice(&slots.to_le_bytes());
            out.extend_from_slice(&stride.to_le_bytes());
            out.extend_from_slice(&first_interrupt.to_le_bytes());
        }
    }
    out.extend_from_slice(&board.guest_disk.get().to_le_bytes());
    out.extend_from_slice(&board.guest_disk_interrupt.to_le_bytes());
    put_length(&mut out, board.dma_masters.len());
    for &(master, range) in &board.dma_masters {
        out.push(match master {
            DmaMaster::GicIts => DMA_MASTER_GIC_ITS_TAG,
            DmaMaster::FirmwareConfig => DMA_MASTER_FW_CFG_TAG,
        });
        put_range(&mut out, range);
    }
    put_length(&mut out, board.dma_incapable.len());
    for &range in &board.dma_incapable {
        put_range(&mut out, range);
    }
    out.push(match plan.console {
        ConsoleMode::Switched => 0,
        ConsoleMode::Tagged => 1,
    });
    match &plan.device_key {
        None => out.push(0),
        Some(key) => {
            out.push(1);
            out.extend_from_slice(key);
        }
    }
    put_length(&mut out, plan.personalities.len());
    for personality in &plan.personalities {
        put_string(&mut out, &personality.name);
        put_length(&mut out, personality.cpus.len());
        out.extend_from_slice(&personality.cpus);
        put_range(&mut out, personality.ram);
        put_blob(&mut out, personality.kernel);
        out.extend_from_slice(&personality.kernel_load.get().to_le_bytes());
        out.extend_from_slice(&personality.entry.get().to_le_bytes());
        put_blob(&mut out, personality.dtb);
        out.extend_from_slice(&personality.dtb_load.get().to_le_bytes());
        match personality.initrd {
            None => out.push(0),
            Some((blob, load)) => {
                out.push(1);
                put_blob(&mut out, blob);
                out.extend_from_slice(&load.get().to_le_bytes());
            }
        }
        match personality.disk {
            None => out.push(0),
            Some(disk) => {
                out.push(1);
                out.push(match disk.partition {
                    DiskPartition::Personal => PARTITION_PERSONAL_TAG,
                    DiskPartition::Work => PARTITION_WORK_TAG,
                });
                out.push(u8::from(disk.encrypted));
            }
        }
        put_length(&mut out, personality.devices.len());
        for device in &personality.devices {
            put_string(&mut out, &device.name);
            put_range(&mut out, device.mmio);
            put_length(&mut out, device.interrupts.len());
            for interrupt in &device.interrupts {
                out.extend_from_slice(&interrupt.to_le_bytes());
            }
        }
    }
    out
}

/// Pushes a list or string length; every capacity in the plan is below 256.
#[cfg(feature = "std")]
fn put_length(out: &mut Vec<u8>, length: usize) {
    out.push(u8::try_from(length).unwrap_or(u8::MAX));
}

#[cfg(feature = "std")]
fn put_string(out: &mut Vec<u8>, text: &str) {
    put_length(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

#[cfg(feature = "std")]
fn put_range(out: &mut Vec<u8>, range: PhysRange) {
    out.extend_from_slice(&range.start.get().to_le_bytes());
    out.extend_from_slice(&range.size.to_le_bytes());
}

#[cfg(feature = "std")]
fn put_blob(out: &mut Vec<u8>, blob: Blob) {
    out.extend_from_slice(&blob.offset.to_le_bytes());
    out.extend_from_slice(&blob.size.to_le_bytes());
}
