//! The product's own executor (`workers/common/src/glue/executor.rs`, the
//! same source file) for the floor's hand-written `fetch` exports, and the
//! KV binding the floor's KV workers share.

pub mod kv;

#[path = "../../../../../workers/common/src/glue/executor.rs"]
mod executor;
#[path = "../../../../../workers/common/src/glue/slots.rs"]
mod slots;

pub use executor::{run, JsAwait, Outcome};
