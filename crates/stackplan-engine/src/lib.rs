//! The resource graph and, on it, refresh, diff, plan and apply; sees providers only through traits.

mod apply;
mod diff;
mod error;
mod graph;
mod import;
mod planner;
mod refresh;
mod rotation;
mod schedule;
pub mod seal;
pub mod testing;

pub use apply::{
    ApplyContext, ApplyEvent, ApplyReport, ApplySettings, ApplySink, NoApplyEvents, OpFailure,
    StateWriteFailure, StopFlag, apply,
};
pub use error::EngineError;
pub use graph::ResourceGraph;
pub use import::{IMPORTABLE_KINDS, ImportRequest, import_resource, nearest_addr};
pub use planner::{
    PlanRequest, PlanSettings, Planner, check_guards, check_saved_changes, check_saved_plan,
    sha256_hex,
};
pub use refresh::LiveView;
pub use schedule::{Node, Op, schedule, settle_replace_orders};
