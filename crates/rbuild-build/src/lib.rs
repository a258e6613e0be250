//! The builder: Dockerfile lowering, ops, build context, exporters.
//!
//! `build(request)` parses the Dockerfile, lowers the stages the target needs into a graph
//! of ops (base image, RUN, COPY), solves it with the cache in the store, and writes the
//! image (config + OCI manifest) into the store under the requested tags.

mod builder;
mod cache;
mod error;
pub mod export;
pub mod image;
pub mod import;
pub mod lower;
pub mod ocilayout;
pub mod ops;
pub mod progress;
mod request;
pub mod resolve;
pub mod time;

pub use builder::{build, BuildResult};
pub use error::{excerpt, BuildError, StepLocation};
pub use ocilayout::{OciLayoutError, OciLayoutRef};
pub use request::{
    read_dockerfile, BuildRequest, DockerfileSource, NamedContext, MAX_DOCKERFILE_BYTES,
};
