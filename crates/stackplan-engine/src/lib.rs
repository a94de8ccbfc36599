//! The resource graph and, on it, refresh, diff, plan and apply; sees providers only through traits.

mod apply;
mod diff;
mod error;
mod graph;
mod planner;
mod refresh;
mod rotation;
pub mod seal;
pub mod testing;

pub use apply::{
    ApplyEvent, ApplyReport, ApplySettings, ApplySink, NoApplyEvents, Op, StopFlag, apply,
};
pub use error::EngineError;
pub use graph::ResourceGraph;
pub use planner::{
    PlanRequest, PlanSettings, Planner, check_guards, check_saved_changes, check_saved_plan,
    deletion_order, sha256_hex,
};
pub use refresh::LiveView;
