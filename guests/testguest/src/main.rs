//! A bare-metal test personality for Janus. It prints markers, starts its
//! second vCPU, keeps a heartbeat and a canary in its own RAM, and carries
//! out the attacks its command line names, reporting whether each was
//! contained; with a disk, it checks its own data (`disk=victim`) or hands
//! the device malicious requests (`attack=virtio-<kind>`). Tests read its
//! lines off the serial console.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod disk;
#[cfg(target_os = "none")]
mod disk_attacks;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
mod guest;
#[cfg(target_os = "none")]
mod hypercalls;
#[cfg(target_os = "none")]
mod residue;
#[cfg(target_os = "none")]
mod rtc;
#[cfg(target_os = "none")]
mod virtio;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the test guest is a bare-metal image: build it with `cargo xtask build`");
}
