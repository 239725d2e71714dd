//! What the integrator configures, and the device configuration space the
//! driver reads (`struct virtio_blk_config`, virtio 1.2 §5.2.4).

use crate::queue::MAX_QUEUE_SIZE;

/// Bytes of a sector: the unit of `sector`, of capacity and of transfers.
pub const SECTOR_BYTES: u64 = 512;
/// Largest transfer a request may carry: `seg_max · size_max` is clamped to
/// it, and a request longer than the advertised product is refused.
pub const MAX_REQUEST_BYTES: u32 = 4 << 20;
/// Smallest `size_max` offered: Linux raises a smaller segment limit to its
/// page size anyway.
pub const MIN_SEGMENT_BYTES: u32 = 4096;
/// Bytes of the `GET_ID` serial number (`VIRTIO_BLK_ID_BYTES`).
pub const SERIAL_BYTES: usize = 20;

/// The integrator's choices for one block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockConfig {
    /// Returned by `VIRTIO_BLK_T_GET_ID` (Linux shows it as
    /// `/sys/block/vdX/serial`); NUL-padded.
    pub serial: [u8; SERIAL_BYTES],
    /// `QueueNumMax`: a power of two, at most 256.
    pub queue_size_max: u16,
    /// `seg_max`: most data segments in one request.
    pub segment_max: u32,
    /// `size_max`: largest data segment in bytes.
    pub size_max: u32,
}

impl BlockConfig {
    /// The values the device actually offers:
    ///
    /// - `queue_size_max` rounded down to a power of two in 1..=256 (0 means
    ///   256);
    /// - `size_max` rounded down to a multiple of 512 within
    ///   [`MIN_SEGMENT_BYTES`]..=[`MAX_REQUEST_BYTES`];
    /// - `segment_max` at least 1, at most `queue_size_max - 2` (Linux adds
    ///   the header and status descriptors and, without indirect descriptors,
    ///   needs the whole chain to fit in the queue) and at most
    ///   `MAX_REQUEST_BYTES / size_max`.
    pub const fn normalized(&self) -> Self {
        let queue_size_max =
            if self.queue_size_max == 0 || self.queue_size_max > MAX_QUEUE_SIZE { MAX_QUEUE_SIZE } else { 1 << (15 - self.queue_size_max.leading_zeros()) };
        let mut size_max = self.size_max - self.size_max % SECTOR_BYTES as u32;
        if size_max < MIN_SEGMENT_BYTES {
            size_max = MIN_SEGMENT_BYTES;
        }
        if size_max > MAX_REQUEST_BYTES {
            size_max = MAX_REQUEST_BYTES;
        }
        let mut segment_max = self.segment_max;
        let queue_limit = if queue_size_max > 2 { queue_size_max as u32 - 2 } else { 1 };
        if segment_max > queue_limit {
            segment_max = queue_limit;
        }
        if segment_max > MAX_REQUEST_BYTES / size_max {
            segment_max = MAX_REQUEST_BYTES / size_max;
        }
        if segment_max == 0 {
            segment_max = 1;
        }
        Self { serial: self.serial, queue_size_max, segment_max, size_max }
    }

    /// Longest data transfer of one request: `seg_max · size_max`.
    pub const fn max_request_bytes(&self) -> u64 {
        self.segment_max as u64 * self.size_max as u64
    }
}

/// Bytes of `struct virtio_blk_config` the device fills in; the rest of the
/// configuration window reads as zero.
pub(crate) const CONFIG_BYTES: usize = 0x60;

/// The configuration space image (virtio 1.2 §5.2.4), little-endian:
/// `capacity` at 0x00, `size_max` at 0x08, `seg_max` at 0x0c, `geometry`
/// (zero) at 0x10, `blk_size` = 512 at 0x14, `topology` (zero) at 0x18,
/// `writeback` at 0x20, `num_queues` = 1 at 0x22, the discard, write-zeroes,
/// secure-erase and zoned fields zero.
pub(crate) fn config_image(capacity: u64, config: &BlockConfig) -> [u8; CONFIG_BYTES] {
    let mut image = [0u8; CONFIG_BYTES];
    put(&mut image, 0x00, &capacity.to_le_bytes());
    put(&mut image, 0x08, &config.size_max.to_le_bytes());
    put(&mut image, 0x0c, &config.segment_max.to_le_bytes());
    put(&mut image, 0x14, &(SECTOR_BYTES as u32).to_le_bytes());
    put(&mut image, 0x22, &1u16.to_le_bytes());
    image
}

fn put(image: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(target) = image.get_mut(offset..offset.saturating_add(bytes.len())) {
        target.copy_from_slice(bytes);
    }
}
