//! Host-testable disk encryption and key handling: AES-XTS-256 sectors, wrapped data keys, crash-consistent key metadata
#![cfg_attr(not(test), no_std)]
