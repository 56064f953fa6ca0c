//! OCI images without a daemon: digests, layers, the image config and manifest, and the sinks
//! that write them:
//!
//! - [`OciLayoutSink`]: an OCI image layout directory (`-o oci:DIR`);
//! - [`DockerArchiveSink`]: a tarball for `docker load` / `podman load` (`-o docker-archive:FILE`);
//! - [`DockerEngineSink`]: straight into the local engine through its API (`-o docker`);
//! - [`RegistrySink`]: any OCI registry through the distribution API (`--push`), uploading only
//!   the blobs it lacks, with docker's and podman's credentials;
//!
//! and, with the same registry client, [`RemoteCache`]: grocker's cache shared through a
//! registry repository (`--cache-repo`), one OCI artifact per key.
//!
//! A multi-platform image is an [`ImageIndex`] over one [`Image`] per platform; the layout and
//! the registry hold one ([`Sink::publish_index`]), the archive and the engine hold one
//! platform's image only.
//!
//! and ko's wrappers around them: [`Tee`] (to several sinks, like tee(1)) and [`Recorder`]
//! (an action once the images are safely there).
//!
//! This is the end of grocker's pipeline (DESIGN §1.5–1.7): the filesystem crates hand over each
//! layer as a closure that writes a deterministic tar; [`Layer::build`] streams it through two
//! hashes and a compressor to a blob on disk; [`Image::new`] computes the config and manifest
//! bytes once, canonically, so every [`Sink`] writes the same bytes and every digest agrees
//! (go-containerregistry's "raw bytes are the truth").
//!
//! ```
//! use std::collections::BTreeMap;
//! use grocker_oci::{Compression, Image, ImageConfig, ImageName, Layer, OciLayoutSink, Sink};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tmp = tempfile::tempdir()?;
//! let layer = Layer::build(&tmp.path().join("layers"), Compression::Gzip, "hello", |w| {
//!     let mut tar = tar::Builder::new(w);
//!     let mut header = tar::Header::new_ustar();
//!     header.set_path("hello.txt")?;
//!     header.set_size(6);
//!     header.set_mode(0o644);
//!     header.set_cksum();
//!     tar.append(&header, &b"hello\n"[..])?;
//!     tar.finish()
//! })?;
//! let config = ImageConfig { cmd: vec!["/hello".into()], ..ImageConfig::default() };
//! let image = Image::new(&config, vec![layer], BTreeMap::new())?;
//!
//! let mut sink: Box<dyn Sink> = Box::new(OciLayoutSink::new(&tmp.path().join("out"))?);
//! let published = sink.publish(&image, &"app:1.0".parse::<ImageName>()?)?;
//! sink.finish()?;
//! assert_eq!(published.digest, image.digest());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use digest::{Descriptor, Digest, MediaType, ParseDigestError, ParseMediaTypeError, Platform};
pub use docker_archive::DockerArchiveSink;
pub use engine::DockerEngineSink;
pub use error::OciError;
pub use image::{Image, ImageConfig};
pub use index::{Artifact, ImageIndex};
pub use layer::{Compression, Layer};
pub use name::{ImageName, ParseImageNameError};
pub use oci_layout::OciLayoutSink;
pub use referrer::Referrer;
/// Entry points for grocker's fuzz targets (`fuzz/`); only built with the `fuzz` feature.
#[cfg(feature = "fuzz")]
pub use registry::fuzz;
pub use registry::{CacheKey, CachedEntry, PushReport, RegistryOptions, RegistrySink, RemoteCache};
pub use sink::{Published, RecordError, Recorder, Sink, Tee, write_atomic};

mod digest;
mod docker_archive;
mod engine;
mod engine_memo;
mod error;
mod image;
mod index;
mod json;
mod layer;
mod name;
mod oci_layout;
mod pgzip;
mod referrer;
mod registry;
mod sink;
