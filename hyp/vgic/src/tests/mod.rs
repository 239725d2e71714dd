//! Host tests of the virtual GIC against a fake list register bank.

mod direct;
mod distributor;
mod fake;
mod flush;
mod invariants;
mod list_registers;
mod ownership;
mod proptests;
mod redistributor;
mod reference;
mod sgi;
