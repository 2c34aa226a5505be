//! The stand-in over real HTTP with reqwest: one test binary (one link) for all API areas.

mod admin;
mod common;
mod faults;
mod organizations;
mod partners;
