//! Parts of the benchmark harness that tests elsewhere in the workspace use too.

pub mod floor;
pub mod start;
