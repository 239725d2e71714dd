//! Distinct address types: a host physical address is never silently used as
//! a guest physical (intermediate physical) address or the other way round.

use core::fmt;

macro_rules! address_type {
    ($(#[$meta:meta])* $name:ident, $range:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw address.
            pub const fn get(self) -> u64 {
                self.0
            }

            /// `self + offset`, or `None` on overflow.
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(value) => Some(Self(value)),
                    None => None,
                }
            }

            /// Whether the address is a multiple of `alignment` (a power of two).
            pub const fn is_aligned(self, alignment: u64) -> bool {
                alignment != 0 && self.0 & (alignment - 1) == 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        /// A half-open range `[start, start + size)` of addresses.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $range {
            /// First address in the range.
            pub start: $name,
            /// Size in bytes.
            pub size: u64,
        }

        impl $range {
            /// A range of `size` bytes from `start`.
            pub const fn new(start: u64, size: u64) -> Self {
                Self { start: $name(start), size }
            }

            /// One past the last address, or `None` if the range wraps.
            pub const fn end(&self) -> Option<u64> {
                self.start.0.checked_add(self.size)
            }

            /// Whether `address` lies inside the range.
            pub const fn contains(&self, address: u64) -> bool {
                match self.end() {
                    Some(end) => address >= self.start.0 && address < end,
                    None => false,
                }
            }

            /// Whether `[address, address + length)` lies wholly inside the
            /// range (false on overflow).
            pub const fn contains_span(&self, address: u64, length: u64) -> bool {
                match (address.checked_add(length), self.end()) {
                    (Some(span_end), Some(end)) => address >= self.start.0 && span_end <= end,
                    _ => false,
                }
            }

            /// Whether the two ranges share at least one address.
            pub const fn overlaps(&self, other: &Self) -> bool {
                match (self.end(), other.end()) {
                    (Some(a_end), Some(b_end)) => {
                        self.size != 0 && other.size != 0 && self.start.0 < b_end && other.start.0 < a_end
                    }
                    // A wrapping range is invalid; treat it as overlapping everything.
                    _ => true,
                }
            }
        }

        impl fmt::Display for $range {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.end() {
                    Some(end) => write!(f, "{:#x}..{:#x}", self.start.0, end),
                    None => write!(f, "{:#x}+{:#x}(wraps)", self.start.0, self.size),
                }
            }
        }
    };
}

address_type!(
    /// A host (machine) physical address, as the hypervisor sees memory.
    PhysAddr,
    PhysRange
);
address_type!(
    /// A guest physical address (an ARM "intermediate physical address"),
    /// as a personality sees memory through its stage-2 table.
    GuestPhysAddr,
    GuestPhysRange
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_symmetric_and_half_open() {
        let a = PhysRange::new(0x1000, 0x1000);
        let b = PhysRange::new(0x2000, 0x1000);
        assert!(!a.overlaps(&b));
        assert!(!b.overlaps(&a));
        let c = PhysRange::new(0x1fff, 2);
        assert!(a.overlaps(&c) && c.overlaps(&a) && b.overlaps(&c));
        assert!(!a.overlaps(&PhysRange::new(0x1800, 0)));
    }

    #[test]
    fn wrapping_ranges_are_rejected() {
        let wrap = PhysRange::new(u64::MAX, 2);
        assert_eq!(wrap.end(), None);
        assert!(!wrap.contains(u64::MAX));
        assert!(wrap.overlaps(&PhysRange::new(0, 1)));
        assert!(!PhysRange::new(0, 0x1000).contains_span(0xfff, u64::MAX));
    }

    #[test]
    fn display_shows_half_open_hex() {
        assert_eq!(PhysRange::new(0x4800_0000, 0x800_0000).to_string(), "0x48000000..0x50000000");
    }
}
