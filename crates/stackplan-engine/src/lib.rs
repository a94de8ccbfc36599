//! The resource graph and, on it, refresh, diff, plan and apply; sees providers only through traits.
