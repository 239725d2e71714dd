//! The Janus disk layout: GPT partitions janus-meta, personal, work, shared; parsing (no_std) and image creation (std)
#![cfg_attr(not(test), no_std)]
