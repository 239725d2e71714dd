//! Kernel format detection and flattening, including hand-built ELF files.

use janus_platform::{GuestPhysAddr, PhysRange};

use crate::kernel::{KernelFormat, KernelPlacement, MAX_FLAT_KERNEL_SIZE, flatten_kernel};
use crate::layout::LayoutError;

/// An arm64 Image header followed by `body_length` bytes of 0xaa.
pub(crate) fn image(text_offset: u64, image_size: u64, body_length: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[0..4].copy_from_slice(&[0x4d, 0x5a, 0x00, 0x91]);
    bytes[8..16].copy_from_slice(&text_offset.to_le_bytes());
    bytes[16..24].copy_from_slice(&image_size.to_le_bytes());
    bytes[56..60].copy_from_slice(b"ARM\x64");
    bytes.resize(64 + body_length, 0xaa);
    bytes
}

/// One program header: type, physical address, file bytes, memory size.
pub(crate) struct Segment<'a> {
    pub kind: u32,
    pub physical: u64,
    pub data: &'a [u8],
    pub memory_size: u64,
}

pub(crate) fn load(physical: u64, data: &[u8], memory_size: u64) -> Segment<'_> {
    Segment { kind: 1, physical, data, memory_size }
}

/// A minimal ELF64 little-endian AArch64 executable.
pub(crate) fn elf(entry: u64, segments: &[Segment<'_>]) -> Vec<u8> {
    let count = segments.len();
    let mut bytes = vec![0u8; 64 + 56 * count];
    bytes[0..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[6] = 1;
    bytes[16..18].copy_from_slice(&2u16.to_le_bytes());
    bytes[18..20].copy_from_slice(&183u16.to_le_bytes());
    bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
    bytes[24..32].copy_from_slice(&entry.to_le_bytes());
    bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
    bytes[52..54].copy_from_slice(&64u16.to_le_bytes());
    bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
    bytes[56..58].copy_from_slice(&(count as u16).to_le_bytes());
    for (index, segment) in segments.iter().enumerate() {
        let file_offset = bytes.len() as u64;
        bytes.extend_from_slice(segment.data);
        let header = 64 + 56 * index;
        let field = |bytes: &mut Vec<u8>, offset: usize, value: u64| {
            bytes[header + offset..header + offset + 8].copy_from_slice(&value.to_le_bytes());
        };
        bytes[header..header + 4].copy_from_slice(&segment.kind.to_le_bytes());
        field(&mut bytes, 8, file_offset);
        field(&mut bytes, 16, segment.physical);
        field(&mut bytes, 24, segment.physical);
        field(&mut bytes, 32, segment.data.len() as u64);
        field(&mut bytes, 40, segment.memory_size);
    }
    bytes
}

#[test]
fn detects_linux_image() {
    let bytes = image(0x8_0000, 0x20_0000, 100);
    assert_eq!(KernelFormat::detect(&bytes), KernelFormat::LinuxImage { text_offset: 0x8_0000, image_size: 0x20_0000 });
}

#[test]
fn legacy_image_without_size_uses_defaults() {
    let bytes = image(0x1234, 0, 100);
    assert_eq!(KernelFormat::detect(&bytes), KernelFormat::LinuxImage { text_offset: 0x8_0000, image_size: 164 });
}

#[test]
fn detects_elf_and_raw() {
    assert_eq!(KernelFormat::detect(&elf(0, &[])), KernelFormat::Elf);
    assert_eq!(KernelFormat::detect(&[0x1f, 0x20, 0x03, 0xd5]), KernelFormat::Raw);
    assert_eq!(KernelFormat::detect(b"ARM\x64"), KernelFormat::Raw, "magic must be at byte 56");
}

#[test]
fn image_is_loaded_at_text_offset_with_its_full_footprint() {
    let bytes = image(0x8_0000, 0x20_0000, 100);
    let flat = flatten_kernel(&bytes).unwrap();
    assert_eq!(flat.bytes, bytes);
    assert_eq!(flat.load, KernelPlacement::RamOffset(0x8_0000));
    assert_eq!(flat.entry, KernelPlacement::RamOffset(0x8_0000));
    assert_eq!(flat.footprint, 0x20_0000);
    let small_size = flatten_kernel(&image(0, 16, 100)).unwrap();
    assert_eq!(small_size.footprint, 164, "footprint is never below the file length");
}

#[test]
fn raw_is_loaded_at_ram_start() {
    let flat = flatten_kernel(&[1, 2, 3, 4]).unwrap();
    assert_eq!(flat.format, KernelFormat::Raw);
    assert_eq!((flat.load, flat.entry, flat.footprint), (KernelPlacement::RamOffset(0), KernelPlacement::RamOffset(0), 4));
}

#[test]
fn empty_kernel_is_rejected() {
    assert_eq!(flatten_kernel(&[]), Err(LayoutError::EmptyKernel));
}

#[test]
fn elf_segments_are_flattened_by_physical_address_with_bss() {
    let bytes = elf(
        0x4808_0010,
        &[load(0x4809_0000, &[5, 6], 0x10), Segment { kind: 4, physical: 0, data: &[9; 8], memory_size: 8 }, load(0x4808_0000, &[1, 2, 3], 3)],
    );
    let flat = flatten_kernel(&bytes).unwrap();
    assert_eq!(flat.format, KernelFormat::Elf);
    assert_eq!(flat.load, KernelPlacement::Address(GuestPhysAddr(0x4808_0000)));
    assert_eq!(flat.entry, KernelPlacement::Address(GuestPhysAddr(0x4808_0010)));
    assert_eq!(flat.footprint, 0x1_0010);
    assert_eq!(flat.bytes.len(), 0x1_0010);
    assert_eq!(&flat.bytes[..4], &[1, 2, 3, 0]);
    assert_eq!(&flat.bytes[0x1_0000..0x1_0003], &[5, 6, 0]);
    assert!(flat.bytes[3..0x1_0000].iter().all(|&byte| byte == 0));
}

#[test]
fn elf_of_another_kind_is_unsupported() {
    let base = elf(0x4808_0000, &[load(0x4808_0000, &[1], 1)]);
    let patched = |offset: usize, value: &[u8]| {
        let mut bytes = base.clone();
        bytes[offset..offset + value.len()].copy_from_slice(value);
        flatten_kernel(&bytes).unwrap_err()
    };
    assert!(matches!(patched(4, &[1]), LayoutError::UnsupportedElf { problem } if problem.contains("64-bit")));
    assert!(matches!(patched(5, &[2]), LayoutError::UnsupportedElf { problem } if problem.contains("little-endian")));
    assert!(matches!(patched(16, &3u16.to_le_bytes()), LayoutError::UnsupportedElf { problem } if problem.contains("ET_EXEC")));
    assert!(matches!(patched(56, &0xffffu16.to_le_bytes()), LayoutError::UnsupportedElf { problem } if problem.contains("extended")));
    let wrong = patched(18, &62u16.to_le_bytes());
    assert_eq!(wrong, LayoutError::ElfWrongMachine { machine: 62 });
    assert!(wrong.to_string().contains("machine 62, not AArch64"), "{wrong}");
}

#[test]
fn malformed_elf_is_rejected() {
    let problem = |bytes: &[u8]| match flatten_kernel(bytes) {
        Err(LayoutError::MalformedElf { problem }) => problem,
        other => panic!("expected MalformedElf, got {other:?}"),
    };
    let good = elf(0x4808_0000, &[load(0x4808_0000, &[1, 2], 2)]);
    assert!(problem(&good[..40]).contains("truncated"));
    assert!(problem(&good[..100]).contains("program header lies outside"));
    let mut short_headers = good.clone();
    short_headers[54] = 32;
    assert!(problem(&short_headers).contains("smaller than 56"));
    let mut huge_table = good.clone();
    huge_table[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(problem(&huge_table).contains("program header lies outside"));
    assert!(problem(&good[..good.len() - 1]).contains("runs past the end"));
    assert!(problem(&elf(0x4808_0000, &[load(0x4808_0000, &[1, 2], 1)])).contains("exceeds its memory size"));
    assert!(problem(&elf(0, &[load(u64::MAX - 1, &[1, 2], 4)])).contains("wraps"));
}

#[test]
fn elf_without_loadable_segments() {
    let bytes = elf(0, &[Segment { kind: 4, physical: 0, data: &[1], memory_size: 1 }, load(0x1000, &[], 0)]);
    assert_eq!(flatten_kernel(&bytes), Err(LayoutError::ElfWithoutLoadableSegments));
}

#[test]
fn elf_overlapping_segments() {
    let bytes = elf(0x1000, &[load(0x1000, &[1; 4], 0x100), load(0x10f0, &[2; 4], 4)]);
    assert_eq!(flatten_kernel(&bytes), Err(LayoutError::ElfSegmentsOverlap { first: PhysRange::new(0x1000, 0x100), second: PhysRange::new(0x10f0, 4) }));
}

#[test]
fn elf_too_large() {
    let bytes = elf(0x1000, &[load(0x1000, &[1], 1), load(0x1000 + MAX_FLAT_KERNEL_SIZE, &[1], 1)]);
    assert_eq!(flatten_kernel(&bytes), Err(LayoutError::KernelTooLarge { size: MAX_FLAT_KERNEL_SIZE + 1 }));
}

#[test]
fn elf_entry_outside_segments() {
    let bytes = elf(0x2000, &[load(0x1000, &[1; 16], 0x100)]);
    let error = flatten_kernel(&bytes).unwrap_err();
    assert_eq!(error, LayoutError::ElfEntryOutsideSegments { entry: 0x2000, loaded: PhysRange::new(0x1000, 0x100) });
    assert!(error.to_string().contains("0x2000 is outside its loaded range 0x1000..0x1100"), "{error}");
}
