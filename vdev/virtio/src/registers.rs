//! The virtio-mmio register map (virtio 1.2 §4.2.2, version 2 only) and the
//! bits the block device uses (§2.1 device status, §5.2.3 feature bits).

/// Register offsets in the MMIO window (virtio 1.2 §4.2.2, table "MMIO
/// Device Register Layout").
pub mod offset {
    /// `MagicValue`: 0x74726976 ("virt").
    pub const MAGIC_VALUE: u64 = 0x000;
    /// `Version`: 2 (modern).
    pub const VERSION: u64 = 0x004;
    /// `DeviceID`: 2 (block device).
    pub const DEVICE_ID: u64 = 0x008;
    /// `VendorID`.
    pub const VENDOR_ID: u64 = 0x00c;
    /// `DeviceFeatures`: 32 feature bits, selected by `DeviceFeaturesSel`.
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// `DeviceFeaturesSel`.
    pub const DEVICE_FEATURES_SELECT: u64 = 0x014;
    /// `DriverFeatures`: 32 feature bits, selected by `DriverFeaturesSel`.
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// `DriverFeaturesSel`.
    pub const DRIVER_FEATURES_SELECT: u64 = 0x024;
    /// `QueueSel`.
    pub const QUEUE_SELECT: u64 = 0x030;
    /// `QueueNumMax`.
    pub const QUEUE_SIZE_MAX: u64 = 0x034;
    /// `QueueNum`.
    pub const QUEUE_SIZE: u64 = 0x038;
    /// `QueueReady`.
    pub const QUEUE_READY: u64 = 0x044;
    /// `QueueNotify`.
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// `InterruptStatus`.
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// `InterruptACK`.
    pub const INTERRUPT_ACKNOWLEDGE: u64 = 0x064;
    /// `Status`.
    pub const STATUS: u64 = 0x070;
    /// `QueueDescLow`.
    pub const QUEUE_DESCRIPTOR_LOW: u64 = 0x080;
    /// `QueueDescHigh`.
    pub const QUEUE_DESCRIPTOR_HIGH: u64 = 0x084;
    /// `QueueDriverLow`: the available ring.
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// `QueueDriverHigh`.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// `QueueDeviceLow`: the used ring.
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// `QueueDeviceHigh`.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// `SHMSel`: shared memory region select (no regions exist).
    pub const SHARED_MEMORY_SELECT: u64 = 0x0ac;
    /// `SHMLenLow`.
    pub const SHARED_MEMORY_LENGTH_LOW: u64 = 0x0b0;
    /// `SHMLenHigh`.
    pub const SHARED_MEMORY_LENGTH_HIGH: u64 = 0x0b4;
    /// `SHMBaseLow`.
    pub const SHARED_MEMORY_BASE_LOW: u64 = 0x0b8;
    /// `SHMBaseHigh`.
    pub const SHARED_MEMORY_BASE_HIGH: u64 = 0x0bc;
    /// `QueueReset` (only with `VIRTIO_F_RING_RESET`, not offered).
    pub const QUEUE_RESET: u64 = 0x0c0;
    /// `ConfigGeneration`.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device configuration space (`struct virtio_blk_config`).
    pub const CONFIG: u64 = 0x100;
    /// Size of the whole MMIO window.
    pub const WINDOW: u64 = 0x200;
}

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device met an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 0x80;
}

/// `InterruptStatus` bits (virtio 1.2 §4.2.2).
pub mod interrupt {
    /// Used Buffer Notification: the device used a buffer of some queue.
    pub const USED_BUFFER: u32 = 1;
    /// Configuration Change Notification (also raised with
    /// `DEVICE_NEEDS_RESET`, virtio 1.2 §2.1.2).
    pub const CONFIG_CHANGE: u32 = 2;
    /// Both bits.
    pub const ALL: u32 = USED_BUFFER | CONFIG_CHANGE;
}

/// Feature bits (virtio 1.2 §5.2.3 and §6).
pub mod feature {
    /// `VIRTIO_BLK_F_SIZE_MAX`: `size_max` holds the largest segment.
    pub const BLOCK_SIZE_MAX: u64 = 1 << 1;
    /// `VIRTIO_BLK_F_SEG_MAX`: `seg_max` holds the most segments per request.
    pub const BLOCK_SEGMENT_MAX: u64 = 1 << 2;
    /// `VIRTIO_BLK_F_RO`: the device is read-only.
    pub const BLOCK_READ_ONLY: u64 = 1 << 5;
    /// `VIRTIO_BLK_F_BLK_SIZE`: `blk_size` holds the logical block size.
    pub const BLOCK_BLOCK_SIZE: u64 = 1 << 6;
    /// `VIRTIO_BLK_F_FLUSH`: the device executes flush requests.
    pub const BLOCK_FLUSH: u64 = 1 << 9;
    /// `VIRTIO_F_INDIRECT_DESC` (not offered).
    pub const INDIRECT_DESCRIPTORS: u64 = 1 << 28;
    /// `VIRTIO_F_EVENT_IDX` (not offered).
    pub const EVENT_INDEX: u64 = 1 << 29;
    /// `VIRTIO_F_VERSION_1`: the modern interface; required.
    pub const VERSION_1: u64 = 1 << 32;
}

/// `MagicValue`: "virt" in little-endian.
pub const MAGIC: u32 = 0x7472_6976;
/// `Version` of the modern MMIO transport.
pub const VERSION: u32 = 2;
/// `DeviceID` of a block device (virtio 1.2 §5).
pub const DEVICE_ID_BLOCK: u32 = 2;
/// `VendorID`: "JANU" in ASCII.
pub const VENDOR_ID: u32 = 0x4a41_4e55;
