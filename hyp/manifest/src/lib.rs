//! The Janus system manifest and the binary boot plan built from it.
//!
//! Two halves share one set of rules ([`rules`]):
//!
//! * The **boot side** (always built, `no_std`, no allocator): the
//!   [`BootPlan`] model, [`parse_payload`] / [`payload_length`] to decode the
//!   payload appended to the hypervisor image, and [`validate_plan`] to
//!   re-check the plan before any personality starts.
//! * The **host side** (feature `std`): the TOML [`Manifest`], [`parse()`],
//!   [`validate()`] and [`load`] with `file:line` diagnostics, kernel inspection
//!   ([`flatten_kernel`]), guest layout planning ([`plan_layout`]) and payload
//!   encoding ([`PayloadBuilder`]).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

mod codec;
pub mod disk_state;
mod little_endian;
pub mod payload;
pub mod plan;
pub mod rules;

#[cfg(feature = "std")]
pub mod kernel;
#[cfg(feature = "std")]
pub mod layout;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod parse;
#[cfg(feature = "std")]
pub mod validate;

// The tests exercise the host side too, so they need `--features std`.
#[cfg(test)]
mod tests;

pub use codec::decode_plan;
#[cfg(feature = "std")]
pub use codec::encode_plan;
pub use disk_state::{DISK_STATE_ARGUMENT, DISK_STATE_NEW, mark_disk_new};
pub use payload::{
    PAYLOAD_BLOB_ALIGNMENT, PAYLOAD_FORMAT_VERSION, PAYLOAD_HEADER_SIZE, PAYLOAD_MAGIC, PayloadBlobs, PayloadError, device_key_span, parse_payload,
    payload_length,
};
pub use plan::{
    Blob, BlobKind, BootPlan, ConsoleMode, DEVICE_KEY_LENGTH, DeviceName, DevicePlan, DiskPartition, DiskPlan, PersonalityName, PersonalityPlan, PlanError,
    validate_plan,
};
pub use rules::{
    DEVICE_ALIGNMENT, FIRST_SPI, LAST_SPI, MAX_DEVICE_INTERRUPTS, MAX_DEVICES, MAX_PERSONALITIES, MAX_VCPUS, NameProblem, ReservedInterrupt, ReservedRegion,
    is_spi, reserved_interrupt, reserved_regions,
};

#[cfg(feature = "std")]
pub use kernel::{FlatKernel, KernelFormat, KernelPlacement, flatten_kernel};
#[cfg(feature = "std")]
pub use layout::{GuestLayout, LayoutError, PersonalityLayoutError, plan_layout, plan_personality_layout};
#[cfg(feature = "std")]
pub use model::{DeviceConfig, DeviceKey, DeviceRef, FieldKey, FieldPath, ImageSource, Manifest, PersonalityConfig, PersonalityRef, parse_size};
#[cfg(feature = "std")]
pub use parse::{ManifestError, ManifestErrorKind, ManifestErrors, load, parse};
#[cfg(feature = "std")]
pub use payload::PayloadBuilder;
#[cfg(feature = "std")]
pub use validate::{ValidationError, validate};
