//! How a personality's `/init` learns that its disk was just provisioned
//! (and so may be formatted): xtask puts [`DISK_STATE_ARGUMENT`] on the
//! command line of every personality with a disk, and the hypervisor,
//! which alone knows, rewrites it in place in the loaded device tree to
//! [`DISK_STATE_NEW`] ([`mark_disk_new`]). Same length, so the device tree
//! needs no other change.

/// The kernel command-line argument every personality with a disk gets.
pub const DISK_STATE_ARGUMENT: &str = "janus.disk=old";
/// What it becomes when the hypervisor provisioned the disk this boot.
pub const DISK_STATE_NEW: &str = "janus.disk=new";
const _: () = assert!(DISK_STATE_ARGUMENT.len() == DISK_STATE_NEW.len());

/// Rewrites the first [`DISK_STATE_ARGUMENT`] in `device_tree` to
/// [`DISK_STATE_NEW`]; false if there is none.
pub fn mark_disk_new(device_tree: &mut [u8]) -> bool {
    let needle = DISK_STATE_ARGUMENT.as_bytes();
    let found = device_tree.windows(needle.len()).position(|window| window == needle);
    let Some(start) = found else { return false };
    match device_tree.get_mut(start..start + needle.len()) {
        Some(argument) => {
            argument.copy_from_slice(DISK_STATE_NEW.as_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_is_rewritten_in_place_once() {
        let mut tree = b"\0\0bootargs\0console=ttyAMA0 janus.disk=old\0tail".to_vec();
        let length = tree.len();
        assert!(mark_disk_new(&mut tree));
        assert_eq!(tree, b"\0\0bootargs\0console=ttyAMA0 janus.disk=new\0tail");
        assert_eq!(tree.len(), length);
        assert!(!mark_disk_new(&mut tree), "nothing left to mark");
        assert!(!mark_disk_new(&mut b"janus.disk=ol".to_vec()));
        assert!(!mark_disk_new(&mut []));
    }
}
