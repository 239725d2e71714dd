//! Kernel image inspection: tells an arm64 Linux `Image`, an AArch64 ELF and
//! a raw binary apart and flattens each into one blob with a load position
//! and an entry point. The input is administrator-supplied, so every read is
//! bounds-checked and every sum overflow-checked.

use janus_platform::{GuestPhysAddr, PhysRange};

use crate::layout::LayoutError;
use crate::little_endian::{read_array, read_u16, read_u32, read_u64, sub_slice};

/// The arm64 `Image` header magic, at byte 56 (Linux
/// `Documentation/arch/arm64/booting.rst`, "Call the kernel image").
const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";
const IMAGE_MAGIC_OFFSET: u64 = 56;
/// Where `text_offset` goes when an old Image leaves `image_size` zero.
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const ELF_CLASS_64: u8 = 2;
const ELF_DATA_LITTLE_ENDIAN: u8 = 1;
const ELF_TYPE_EXECUTABLE: u16 = 2;
const ELF_MACHINE_AARCH64: u16 = 183;
const ELF_PROGRAM_HEADER_SIZE: u16 = 56;
const ELF_SEGMENT_LOAD: u32 = 1;
/// `e_phnum` value meaning "the real count is in section header 0".
const ELF_EXTENDED_NUMBERING: u16 = 0xffff;

/// Largest flattened kernel accepted (keeps hostile ELF headers from
/// asking for gigabytes of zero fill).
pub const MAX_FLAT_KERNEL_SIZE: u64 = 512 << 20;

/// What kind of kernel image a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// An arm64 Linux `Image` (header magic `ARM\x64` at byte 56).
    LinuxImage {
        /// Offset from a 2 MiB aligned base where the image must be loaded.
        text_offset: u64,
        /// Bytes the kernel occupies once running (including its BSS).
        image_size: u64,
    },
    /// A 64-bit little-endian AArch64 ELF executable.
    Elf,
    /// Anything else: loaded at the start of RAM and entered there.
    Raw,
}

impl KernelFormat {
    /// Recognises the format from the file's first bytes. An `Image` header
    /// with `image_size` 0 (kernels before 3.17) gets the legacy
    /// `text_offset` 0x80000 and the file length as its size.
    pub fn detect(bytes: &[u8]) -> Self {
        if read_array::<4>(bytes, IMAGE_MAGIC_OFFSET) == Some(IMAGE_MAGIC) {
            let text_offset = read_u64(bytes, 8).unwrap_or(0);
            let image_size = read_u64(bytes, 16).unwrap_or(0);
            if image_size == 0 {
                return Self::LinuxImage { text_offset: LEGACY_TEXT_OFFSET, image_size: bytes.len() as u64 };
            }
            return Self::LinuxImage { text_offset, image_size };
        }
        if read_array::<4>(bytes, 0) == Some(ELF_MAGIC) {
            return Self::Elf;
        }
        Self::Raw
    }
}

/// Where a kernel goes or starts, before the personality's RAM is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPlacement {
    /// This many bytes above the start of the personality's RAM.
    RamOffset(u64),
    /// This exact (identity mapped) address.
    Address(GuestPhysAddr),
}

/// A kernel reduced to one blob to copy and where to copy and enter it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatKernel {
    /// The detected format.
    pub format: KernelFormat,
    /// The bytes to copy to [`Self::load`].
    pub bytes: Vec<u8>,
    /// Where the first byte goes.
    pub load: KernelPlacement,
    /// Where virtual CPU 0 starts.
    pub entry: KernelPlacement,
    /// Bytes from the load position the kernel may touch once running
    /// (at least `bytes.len()`).
    pub footprint: u64,
}

/// Detects the format and flattens the kernel into one loadable blob.
pub fn flatten_kernel(bytes: &[u8]) -> Result<FlatKernel, LayoutError> {
    if bytes.is_empty() {
        return Err(LayoutError::EmptyKernel);
    }
    let length = bytes.len() as u64;
    match KernelFormat::detect(bytes) {
        format @ KernelFormat::LinuxImage { text_offset, image_size } => Ok(FlatKernel {
            format,
            bytes: bytes.to_vec(),
            load: KernelPlacement::RamOffset(text_offset),
            entry: KernelPlacement::RamOffset(text_offset),
            footprint: image_size.max(length),
        }),
        KernelFormat::Raw => Ok(FlatKernel {
            format: KernelFormat::Raw,
            bytes: bytes.to_vec(),
            load: KernelPlacement::RamOffset(0),
            entry: KernelPlacement::RamOffset(0),
            footprint: length,
        }),
        KernelFormat::Elf => flatten_elf(bytes),
    }
}

/// One `PT_LOAD` segment.
struct Segment {
    physical: PhysRange,
    file_offset: u64,
    file_size: u64,
}

fn flatten_elf(bytes: &[u8]) -> Result<FlatKernel, LayoutError> {
    let malformed = |problem| LayoutError::MalformedElf { problem };
    let truncated = malformed("the ELF header is truncated");
    if bytes.get(4) != Some(&ELF_CLASS_64) {
        return Err(LayoutError::UnsupportedElf { problem: "it is not a 64-bit ELF" });
    }
    if bytes.get(5) != Some(&ELF_DATA_LITTLE_ENDIAN) {
        return Err(LayoutError::UnsupportedElf { problem: "it is not little-endian" });
    }
    if read_u16(bytes, 16).ok_or(truncated)? != ELF_TYPE_EXECUTABLE {
        return Err(LayoutError::UnsupportedElf { problem: "it is not an executable (ET_EXEC)" });
    }
    let machine = read_u16(bytes, 18).ok_or(truncated)?;
    if machine != ELF_MACHINE_AARCH64 {
        return Err(LayoutError::ElfWrongMachine { machine });
    }
    let entry = read_u64(bytes, 24).ok_or(truncated)?;
    let header_table = read_u64(bytes, 32).ok_or(truncated)?;
    let header_size = read_u16(bytes, 54).ok_or(truncated)?;
    let header_count = read_u16(bytes, 56).ok_or(truncated)?;
    if header_count == ELF_EXTENDED_NUMBERING {
        return Err(LayoutError::UnsupportedElf { problem: "it uses extended program header numbering" });
    }
    if header_size < ELF_PROGRAM_HEADER_SIZE {
        return Err(malformed("its program headers are smaller than 56 bytes"));
    }

    let mut segments = Vec::new();
    for index in 0..u64::from(header_count) {
        let outside = malformed("a program header lies outside the file");
        let at = index.checked_mul(header_size.into()).and_then(|offset| offset.checked_add(header_table)).ok_or(outside)?;
        let field = |offset: u64| at.checked_add(offset).and_then(|position| read_u64(bytes, position)).ok_or(outside);
        let kind = read_u32(bytes, at).ok_or(outside)?;
        let (file_offset, physical, file_size, memory_size) = (field(8)?, field(24)?, field(32)?, field(40)?);
        if kind != ELF_SEGMENT_LOAD || memory_size == 0 {
            continue;
        }
        if file_size > memory_size {
            return Err(malformed("a segment's file size exceeds its memory size"));
        }
        if sub_slice(bytes, file_offset, file_size).is_none() {
            return Err(malformed("a segment's data runs past the end of the file"));
        }
        let physical = PhysRange::new(physical, memory_size);
        if physical.end().is_none() {
            return Err(malformed("a segment wraps the address space"));
        }
        segments.push(Segment { physical, file_offset, file_size });
    }
    segments.sort_by_key(|segment| segment.physical.start);

    for pair in segments.windows(2) {
        if let [first, second] = pair
            && first.physical.overlaps(&second.physical)
        {
            return Err(LayoutError::ElfSegmentsOverlap { first: first.physical, second: second.physical });
        }
    }
    let start = segments.first().ok_or(LayoutError::ElfWithoutLoadableSegments)?.physical.start.get();
    let end = segments.iter().filter_map(|segment| segment.physical.end()).max().unwrap_or(start);
    let span = end.saturating_sub(start);
    if span > MAX_FLAT_KERNEL_SIZE {
        return Err(LayoutError::KernelTooLarge { size: span });
    }
    if entry < start || entry >= end {
        return Err(LayoutError::ElfEntryOutsideSegments { entry, loaded: PhysRange::new(start, span) });
    }

    let mut flat = vec![0u8; usize::try_from(span).map_err(|_| LayoutError::KernelTooLarge { size: span })?];
    for segment in &segments {
        let data = sub_slice(bytes, segment.file_offset, segment.file_size).ok_or(malformed("a segment's data runs past the end of the file"))?;
        let destination = usize::try_from(segment.physical.start.get().saturating_sub(start))
            .ok()
            .and_then(|offset| Some(offset..offset.checked_add(data.len())?))
            .and_then(|range| flat.get_mut(range))
            .ok_or(malformed("a segment lies outside the flattened image"))?;
        destination.copy_from_slice(data);
    }
    Ok(FlatKernel {
        format: KernelFormat::Elf,
        bytes: flat,
        load: KernelPlacement::Address(GuestPhysAddr(start)),
        entry: KernelPlacement::Address(GuestPhysAddr(entry)),
        footprint: span,
    })
}
