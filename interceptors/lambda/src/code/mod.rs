//! Function and layer code: captured from the control-plane requests the edge forwards, kept
//! on disk by `CodeSha256`, extracted once per hash.
//!
//! - [`capture`]: where the code is in `CreateFunction`, `UpdateFunctionCode` and
//!   `PublishLayerVersion` requests;
//! - [`store`]: the cache directory: zips by hash, extracted trees, merged layer trees.

pub mod capture;
pub mod store;

pub use capture::CodeSource;
pub use store::{CodeError, CodeStore};
