//! Test doubles for the two traits, shared by this crate's tests and its
//! fuzz targets (the `test-utils` feature, as rust-vmm's `virtio-queue`
//! ships its `mock`): sparse guest RAM with holes and write-protected
//! ranges, and a disk in a `Vec` that copies, moves data straight to and
//! from guest memory (as a DMA backend does) or takes transfers
//! asynchronously and finishes them in any order, with switchable failures.
//!
//! The disk checks the caller's side of the [`BlockBackend`] contract with
//! `assert!`: a device that breaks it fails the test or fuzz case. Nothing
//! here is meant for a hypervisor build.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

use crate::{BackendError, BlockBackend, GuestMemory, MemoryError, RequestTag, SECTOR_BYTES, Segment, Transfer};

const PAGE: u64 = 4096;
const PAGE_BYTES: usize = PAGE as usize;
const SECTOR: usize = SECTOR_BYTES as usize;

/// Guest RAM `[base, base + size)`, stored sparsely (untouched pages read as
/// zero), so tests can describe gigabyte buffers.
#[derive(Clone, Debug)]
pub struct FakeMemory {
    /// Guest-physical address of the first byte.
    pub base: u64,
    /// Bytes of RAM.
    pub size: u64,
    pages: BTreeMap<u64, Vec<u8>>,
    /// Ranges inside RAM where every access fails (the default `contains`
    /// probe only looks at the ends of a range, so a hole in the middle
    /// passes it).
    pub holes: Vec<(u64, u64)>,
    /// Ranges that can be read but not written.
    pub write_protected: Vec<(u64, u64)>,
    /// Write attempts the fake refused (through [`GuestMemory::write`]).
    pub refused_writes: Cell<usize>,
    /// Calls of [`GuestMemory::fence`].
    pub fences: Cell<usize>,
}

impl FakeMemory {
    /// Zeroed RAM `[base, base + size)`, no holes, nothing protected.
    pub fn new(base: u64, size: u64) -> Self {
        Self { base, size, pages: BTreeMap::new(), holes: Vec::new(), write_protected: Vec::new(), refused_writes: Cell::new(0), fences: Cell::new(0) }
    }

    /// Whether `[address, address + length)` lies inside RAM (holes
    /// included).
    fn in_ram(&self, address: u64, length: usize) -> bool {
        let end = address.checked_add(length as u64);
        address >= self.base && end.is_some_and(|end| self.base.checked_add(self.size).is_some_and(|limit| end <= limit))
    }

    /// Whether the guest may access `[address, address + length)`: inside
    /// RAM and clear of every hole.
    fn in_range(&self, address: u64, length: usize) -> bool {
        let Some(end) = address.checked_add(length as u64) else {
            return false;
        };
        let in_hole = self.holes.iter().any(|&(start, stop)| address < stop && start < end);
        self.in_ram(address, length) && !in_hole
    }

    /// Direct access for the test driver, holes and protection ignored.
    /// Panics outside RAM.
    pub fn load(&self, address: u64, buffer: &mut [u8]) {
        assert!(self.in_ram(address, buffer.len()), "load of {} bytes at {address:#x} outside RAM", buffer.len());
        let mut at = address;
        let mut rest = buffer;
        while !rest.is_empty() {
            let start = (at % PAGE) as usize;
            let length = rest.len().min(PAGE_BYTES - start);
            let (piece, tail) = core::mem::take(&mut rest).split_at_mut(length);
            match self.pages.get(&(at / PAGE)).and_then(|page| page.get(start..start + length)) {
                Some(stored) => piece.copy_from_slice(stored),
                None => piece.fill(0),
            }
            rest = tail;
            at += length as u64;
        }
    }

    /// Direct access for the test driver, holes and protection ignored.
    /// Panics outside RAM.
    pub fn store(&mut self, address: u64, data: &[u8]) {
        assert!(self.try_store(address, data).is_ok(), "store of {} bytes at {address:#x} outside RAM", data.len());
    }

    /// [`FakeMemory::store`] that stores nothing outside RAM, for a fuzzed
    /// driver poking anywhere.
    pub fn try_store(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        if !self.in_ram(address, data.len()) {
            return Err(MemoryError);
        }
        let mut at = address;
        let mut rest = data;
        while !rest.is_empty() {
            let start = (at % PAGE) as usize;
            let length = rest.len().min(PAGE_BYTES - start);
            let (piece, tail) = rest.split_at(length);
            let page = self.pages.entry(at / PAGE).or_insert_with(|| vec![0; PAGE_BYTES]);
            if let Some(target) = page.get_mut(start..start + length) {
                target.copy_from_slice(piece);
            }
            rest = tail;
            at += length as u64;
        }
        Ok(())
    }

    /// `length` bytes at `address` (panics outside RAM).
    pub fn bytes(&self, address: u64, length: usize) -> Vec<u8> {
        let mut buffer = vec![0; length];
        self.load(address, &mut buffer);
        buffer
    }

    /// The little-endian `u16` at `address` (panics outside RAM).
    pub fn u16(&self, address: u64) -> u16 {
        let mut bytes = [0; 2];
        self.load(address, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    /// The little-endian `u32` at `address` (panics outside RAM).
    pub fn u32(&self, address: u64) -> u32 {
        let mut bytes = [0; 4];
        self.load(address, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// A snapshot of every stored page, to compare memory before and after.
    pub fn snapshot(&self) -> BTreeMap<u64, Vec<u8>> {
        self.pages.clone()
    }
}

impl GuestMemory for FakeMemory {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        if !self.in_range(address, buffer.len()) {
            return Err(MemoryError);
        }
        self.load(address, buffer);
        Ok(())
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        let end = address.checked_add(data.len() as u64);
        let protected = self.write_protected.iter().any(|&(start, stop)| end.is_some_and(|end| address < stop && start < end));
        if !self.in_range(address, data.len()) || protected {
            self.refused_writes.set(self.refused_writes.get() + 1);
            return Err(MemoryError);
        }
        self.store(address, data);
        Ok(())
    }

    fn fence(&self) {
        self.fences.set(self.fences.get() + 1);
    }
}

/// The 16 bytes of a split-virtqueue descriptor (`struct virtq_desc`,
/// virtio 1.2 §2.7.5), as a driver writes them.
pub fn descriptor_bytes(address: u64, length: u32, flags: u16, next: u16) -> [u8; 16] {
    let fields = address.to_le_bytes().into_iter().chain(length.to_le_bytes()).chain(flags.to_le_bytes()).chain(next.to_le_bytes());
    let mut raw = [0u8; 16];
    raw.iter_mut().zip(fields).for_each(|(byte, value)| *byte = value);
    raw
}

/// The 16 bytes of a virtio-blk request header (`type`, `reserved`,
/// `sector`; virtio 1.2 §5.2.6).
pub fn header_bytes(kind: u32, sector: u64) -> [u8; 16] {
    let fields = kind.to_le_bytes().into_iter().chain([0; 4]).chain(sector.to_le_bytes());
    let mut raw = [0u8; 16];
    raw.iter_mut().zip(fields).for_each(|(byte, value)| *byte = value);
    raw
}

/// One call the disk received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskCall {
    /// [`BlockBackend::read`] of `length` bytes.
    Read { sector: u64, length: usize },
    /// [`BlockBackend::write`] of `length` bytes.
    Write { sector: u64, length: usize },
    /// A direct transfer into guest memory, with the segments it was given.
    ReadDirect { sector: u64, segments: Vec<Segment> },
    /// A direct transfer out of guest memory.
    WriteDirect { sector: u64, segments: Vec<Segment> },
    /// [`BlockBackend::flush`].
    Flush,
}

/// A disk of 512-byte sectors in memory.
#[derive(Clone, Debug, Default)]
pub struct FakeDisk {
    /// The sectors; its length sets the capacity.
    pub data: Vec<u8>,
    pub read_only: bool,
    pub fail_reads: bool,
    pub fail_writes: bool,
    pub fail_flush: bool,
    /// Serve reads and writes straight from and to guest memory (as a DMA
    /// backend does) instead of declining them.
    pub direct: bool,
    /// Take direct transfers asynchronously: they wait in `pending` until
    /// [`FakeDisk::finish`] moves their data (as a DMA disk completes later).
    pub asynchronous: bool,
    /// With `asynchronous`: at most this many pending, then `Busy`.
    pub capacity: usize,
    pub pending: VecDeque<Pending>,
    pub calls: Vec<DiskCall>,
}

/// A direct transfer the fake took asynchronously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub tag: RequestTag,
    pub write: bool,
    pub sector: u64,
    pub segments: Vec<Segment>,
}

impl FakeDisk {
    /// `sectors` sectors, sector `n` filled with byte pattern `n * 7 + i`.
    pub fn new(sectors: u64) -> Self {
        let data = (0..sectors * SECTOR_BYTES).map(|i| ((i / SECTOR_BYTES) * 7 + i % 251) as u8).collect();
        Self { data, ..Self::default() }
    }

    /// Fails every read, write and flush from now on (or none).
    pub fn fail_all(&mut self, fail: bool) {
        self.fail_reads = fail;
        self.fail_writes = fail;
        self.fail_flush = fail;
    }

    /// Sector `sector`'s bytes (panics past the end).
    pub fn sector(&self, sector: u64) -> &[u8] {
        let start = sector as usize * SECTOR;
        let bytes = self.data.get(start..start + SECTOR);
        assert!(bytes.is_some(), "sector {sector} is past the disk");
        bytes.unwrap_or_default()
    }

    /// The caller's side of the contract: a non-zero multiple of 512 bytes,
    /// inside the disk. Returns the byte range.
    fn check_contract(&self, sector: u64, length: usize) -> Range<usize> {
        assert!(length > 0 && length.is_multiple_of(SECTOR), "backend called with {length} bytes");
        let end = sector.checked_add((length / SECTOR) as u64);
        assert!(end.is_some(), "sector overflow reached the backend");
        let end = end.unwrap_or(u64::MAX);
        assert!(end <= self.sectors(), "backend called past the end: {sector} + {length} bytes");
        (sector as usize * SECTOR)..(end as usize * SECTOR)
    }

    /// The model's side of the direct-transfer contract: non-empty
    /// segments that passed `contains`, adding up to whole sectors inside
    /// the disk. Like a DMA backend, the fake then checks every byte itself
    /// (`contains` only probes the ends, so a segment over a hole in RAM
    /// gets here): returns whether every one is guest RAM.
    fn check_segments(&self, sector: u64, segments: &[Segment], memory: &dyn GuestMemory) -> bool {
        let mut exact = true;
        for segment in segments {
            assert!(segment.length > 0, "empty segment {segment:?}");
            assert!(memory.contains(segment.address, u64::from(segment.length)), "segment outside guest RAM reached the backend: {segment:?}");
            let mut probe = vec![0u8; segment.length as usize];
            exact &= memory.read(segment.address, &mut probe).is_ok();
        }
        let total: usize = segments.iter().map(|segment| segment.length as usize).sum();
        self.check_contract(sector, total);
        exact
    }

    /// Moves a direct transfer's data (failing as the switches say).
    fn move_data(&mut self, write: bool, sector: u64, segments: &[Segment], memory: &mut dyn GuestMemory) -> Result<(), BackendError> {
        if (write && self.fail_writes) || (!write && self.fail_reads) {
            return Err(BackendError::Io);
        }
        let mut at = sector as usize * SECTOR;
        for segment in segments {
            let end = at + segment.length as usize;
            let disk = self.data.get_mut(at..end).ok_or(BackendError::OutOfRange)?;
            let moved = if write { memory.read(segment.address, disk) } else { memory.write(segment.address, disk) };
            moved.map_err(|_| BackendError::Io)?;
            at = end;
        }
        Ok(())
    }

    /// Finishes the pending transfer at `position` (0: the oldest): moves
    /// its data and returns its tag and result for `complete`; `None` if
    /// nothing is pending there.
    pub fn finish(&mut self, position: usize, memory: &mut dyn GuestMemory) -> Option<(RequestTag, Result<(), BackendError>)> {
        let pending = self.pending.remove(position)?;
        let result = self.move_data(pending.write, pending.sector, &pending.segments, memory);
        Some((pending.tag, result))
    }
}

impl BlockBackend for FakeDisk {
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / SECTOR_BYTES
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        let range = self.check_contract(sector, buffer.len());
        self.calls.push(DiskCall::Read { sector, length: buffer.len() });
        if self.fail_reads {
            return Err(BackendError::Io);
        }
        buffer.copy_from_slice(self.data.get(range).ok_or(BackendError::OutOfRange)?);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        let range = self.check_contract(sector, data.len());
        assert!(!self.read_only, "write reached a read-only backend");
        self.calls.push(DiskCall::Write { sector, length: data.len() });
        if self.fail_writes {
            return Err(BackendError::Io);
        }
        self.data.get_mut(range).ok_or(BackendError::OutOfRange)?.copy_from_slice(data);
        Ok(())
    }

    /// Both directions of a direct transfer: declined unless `direct`,
    /// pending if `asynchronous` (busy at `capacity`), done otherwise.
    fn transfer_guest(
        &mut self,
        write: bool,
        sector: u64,
        segments: &[Segment],
        memory: &mut dyn GuestMemory,
        tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        if !self.direct {
            return Ok(Transfer::Declined);
        }
        let exact = self.check_segments(sector, segments, memory);
        assert!(!write || !self.read_only, "write reached a read-only backend");
        if self.asynchronous && self.pending.len() >= self.capacity {
            return Ok(Transfer::Busy);
        }
        if !exact {
            return Err(BackendError::Io);
        }
        let segments = segments.to_vec();
        self.calls.push(if write {
            DiskCall::WriteDirect { sector, segments: segments.clone() }
        } else {
            DiskCall::ReadDirect { sector, segments: segments.clone() }
        });
        if self.asynchronous {
            assert!(self.pending.iter().all(|pending| pending.tag != tag), "tag {tag:?} handed out twice while in flight");
            self.pending.push_back(Pending { tag, write, sector, segments });
            return Ok(Transfer::Submitted);
        }
        self.move_data(write, sector, &segments, memory)?;
        Ok(Transfer::Done)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.calls.push(DiskCall::Flush);
        if self.fail_flush { Err(BackendError::Io) } else { Ok(()) }
    }
}
