//! Building an edge (from TOML or in code), starting it, and stopping it cleanly.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use edgestack_core::{Edge, Upstream};
//!
//! let edge = Edge::builder()
//!     .listen("127.0.0.1:0".parse()?)
//!     .upstream(Upstream::new("moto", "http://127.0.0.1:5000")?)
//!     .default_route("moto")
//!     .start()?;
//! println!("edge on {}", edge.local_addr());
//! edge.shutdown_blocking();
//! # Ok(()) }
//! ```
//!
//! The parts:
//!
//! * `builder`: [`EdgeBuilder`], the settings, listeners and routers of an edge;
//! * `start`: [`EdgeBuilder::start`], one step per file: binding the listen addresses
//!   (`bind`), starting managed backends (`backends`), the AWS built-ins (`aws`: router, error
//!   responder, CORS, admin endpoints, form pass, S3 path style, metrics), then the engine;
//! * `running`: [`Edge`], a running edge and its graceful or immediate stop.

mod builder;
mod running;
mod start;

pub use builder::EdgeBuilder;
pub use running::{Edge, ShutdownReport};
pub use start::StartError;
