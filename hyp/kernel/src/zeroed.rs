//! An optional value whose empty state is all zero bytes, for large
//! statics: `Option`'s `None` is not when the value has a niche to lend
//! (a `bool`, an enum), and a static whose initializer is not all zero
//! goes into the image's `.data` instead of the zeroed `.bss`.

/// `None` or `Some(T)`, with the tag first and `None` = 0 (a `repr(u8)`
/// enum's layout is fixed: RFC 2195).
#[repr(u8)]
pub enum ZeroedOption<T> {
    /// Nothing: an all-zero tag, the payload bytes undefined.
    None = 0,
    /// A value.
    Some(T) = 1,
}

impl<T> ZeroedOption<T> {
    /// The value, borrowed.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Self::None => None,
            Self::Some(value) => Some(value),
        }
    }

    /// The value, borrowed mutably.
    pub fn as_mut(&mut self) -> Option<&mut T> {
        match self {
            Self::None => None,
            Self::Some(value) => Some(value),
        }
    }

    /// Whether there is a value.
    pub fn is_some(&self) -> bool {
        matches!(self, Self::Some(_))
    }

    /// Replaces the contents.
    pub fn set(&mut self, value: Option<T>) {
        *self = match value {
            None => Self::None,
            Some(value) => Self::Some(value),
        };
    }
}

impl<T: Copy> ZeroedOption<T> {
    /// A copy of the value.
    pub fn get(&self) -> Option<T> {
        self.as_ref().copied()
    }
}
