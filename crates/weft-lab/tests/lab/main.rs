//! Integration tests: real labs on real interfaces. They need root (CI runs as
//! root); without it every test fails with a message saying so. Each test builds
//! its own uniquely named lab, so they run in parallel.

mod cleanup;
mod common;
mod impairments;
mod inputs;
mod wireguard;
