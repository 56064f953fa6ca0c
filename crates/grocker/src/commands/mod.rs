//! One module per subcommand.

pub mod build;
pub mod lock;
pub mod outdated;
pub mod purge;
pub mod root;

/// The line a build prints on stdout for each name it published (what scripts read): name,
/// manifest (or index) digest, where it went.
fn print_published(
    name: &grocker_oci::ImageName,
    digest: grocker_oci::Digest,
    published: &grocker_oci::Published,
) {
    println!("{name} {digest} {}", published.location);
}
