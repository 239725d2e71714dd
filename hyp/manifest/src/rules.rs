//! Limits and rules shared by the host-side validator and the boot-time plan
//! check, so the two can never disagree about what a valid system is.

use core::fmt;

/// Most personalities one system may run.
pub const MAX_PERSONALITIES: usize = 4;
/// Most virtual CPUs one personality may have (one per physical core).
pub const MAX_VCPUS: usize = 8;
/// Longest personality name, in bytes.
pub const MAX_NAME_LENGTH: usize = 15;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// Personality RAM base and size must be multiples of this (one stage-2
/// level-2 block).
pub const RAM_ALIGNMENT: u64 = 2 * MIB;
/// Smallest RAM a personality may have.
pub const MIN_RAM_SIZE: u64 = 16 * MIB;
/// Largest device tree blob (the arm64 boot protocol's limit).
pub const MAX_DTB_SIZE: u64 = 2 * MIB;
/// Longest kernel command line, in bytes (without the terminating NUL).
pub const MAX_CMDLINE_LENGTH: usize = 2047;

/// What is wrong with a personality name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LENGTH`] bytes.
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
    /// The name does not start with a lowercase letter.
    DoesNotStartWithLetter,
    /// The name contains a character outside `[a-z0-9-]`.
    BadCharacter {
        /// The first offending character.
        character: char,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the name is empty"),
            Self::TooLong { length } => {
                write!(
                    f,
                    "the name is {length} bytes long, longer than the {MAX_NAME_LENGTH} allowed"
                )
            }
            Self::DoesNotStartWithLetter => {
                write!(f, "the name does not start with a lowercase letter")
            }
            Self::BadCharacter { character } => {
                write!(
                    f,
                    "the name contains {character:?}; only a-z, 0-9 and '-' are allowed"
                )
            }
        }
    }
}

/// Checks a personality name: 1 to 15 bytes of `[a-z0-9-]`, starting with a
/// letter.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let mut characters = name.chars();
    let Some(first) = characters.next() else {
        return Err(NameProblem::Empty);
    };
    if name.len() > MAX_NAME_LENGTH {
        return Err(NameProblem::TooLong { length: name.len() });
    }
    if let Some(character) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(NameProblem::BadCharacter { character });
    }
    if !first.is_ascii_lowercase() {
        return Err(NameProblem::DoesNotStartWithLetter);
    }
    Ok(())
}

/// `value` rounded down to a multiple of `alignment` (a power of two).
pub const fn align_down(value: u64, alignment: u64) -> u64 {
    value & !(alignment.wrapping_sub(1))
}

/// `value` rounded up to a multiple of `alignment` (a power of two), or
/// `None` on overflow.
pub const fn align_up(value: u64, alignment: u64) -> Option<u64> {
    match value.checked_add(alignment.wrapping_sub(1)) {
        Some(bumped) => Some(align_down(bumped, alignment)),
        None => None,
    }
}

/// `bytes` in whole mebibytes, rounded up.
pub const fn mebibytes_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}
