//! The builder: Dockerfile lowering into a plan, solving it, image assembly, exporters.
//!
//! `build(request)` parses the Dockerfile, lowers the stages the target needs into a
//! [`plan::Plan`] of plain data, solves it with the cache in the store (each vertex a
//! [`ops::Step`] with the effects of an [`ops::Runtime`]), writes the image (config + OCI
//! manifest) into the store and runs the outputs.

pub mod annotations;
mod builder;
mod cache;
mod epoch_stage;
mod error;
pub mod export;
pub mod image;
pub mod import;
pub mod lower;
pub mod ocilayout;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod remote_cache;
mod request;
pub mod resolve;
pub mod secrets;
mod solve;
pub mod time;

pub use builder::{build, explain, make_plan, BuildResult, Services};
pub use error::{excerpt, BuildError, StepLocation};
pub use ocilayout::{OciLayoutError, OciLayoutRef};
pub use request::{
    read_dockerfile, BuildRequest, DockerfileSource, EntitlementError, Entitlements, NamedContext,
    NamedContextError, MAX_DOCKERFILE_BYTES,
};
