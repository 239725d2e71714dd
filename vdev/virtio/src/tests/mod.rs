//! Host tests of the virtio-blk device against fake guest RAM, a fake disk
//! and a small test driver.

mod asynchronous;
mod chain;
mod driver;
mod driver_queue;
mod proptests;
mod queue;
mod requests;
mod segments;
mod transport;
