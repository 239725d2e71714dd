//! Page-table memory for the stage-2 tables: a bump allocator over the part
//! of Janus' reserved region that follows the payload. Tables are built once
//! at boot and never freed.

use janus_platform::PhysAddr;
use janus_stage2::TableMemory;

const PAGE: u64 = 4096;
const ENTRIES: usize = 512;

/// Hands out zeroed 4 KiB pages from `[next, end)`.
pub struct TablePool {
    next: u64,
    end: u64,
}

impl TablePool {
    /// # Safety
    /// `[start, end)` must be RAM mapped in Janus' stage-1 map, reserved for
    /// Janus (inside the board's hypervisor region) and used for nothing else.
    pub unsafe fn new(start: u64, end: u64) -> Self {
        Self { next: start.next_multiple_of(PAGE), end }
    }

    fn entry_pointer(table: PhysAddr, index: usize) -> Option<*mut u64> {
        if index >= ENTRIES || !table.is_aligned(PAGE) {
            return None;
        }
        Some((table.get() + index as u64 * 8) as *mut u64)
    }
}

impl TableMemory for TablePool {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        let page = self.next;
        let after = page.checked_add(PAGE)?;
        if after > self.end {
            return None;
        }
        self.next = after;
        // SAFETY: the page lies inside the pool's range (checked above),
        // which the constructor's contract reserves for us.
        unsafe { crate::arch::zero_memory(page, PAGE) };
        Some(PhysAddr(page))
    }

    fn read_entry(&self, table: PhysAddr, index: usize) -> u64 {
        match Self::entry_pointer(table, index) {
            // SAFETY: `table` is a page this pool handed out (the stage-2
            // builder only passes tables it got from allocate_table) and
            // index < 512 keeps the access inside it.
            Some(pointer) => unsafe { pointer.read_volatile() },
            None => 0,
        }
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, value: u64) {
        if let Some(pointer) = Self::entry_pointer(table, index) {
            // SAFETY: as for read_entry.
            unsafe { pointer.write_volatile(value) };
        }
    }
}
