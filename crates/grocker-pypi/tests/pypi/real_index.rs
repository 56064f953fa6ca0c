//! Against the real index (https://pypi.org/simple, which answers PEP 503 HTML here, without
//! PEP 658 files, and whose file host answers range requests). Each test uses an empty cache so
//! that what it measures is what a first build costs.

use grocker_pypi::{DistFile, Index, IndexUrls, Netrc, PackageName, PypiError};

use crate::fetcher;

fn pypi(cache: &tempfile::TempDir) -> Index {
    let urls = IndexUrls::new(grocker_pypi::PYPI_SIMPLE.parse().unwrap());
    Index::new(fetcher(cache.path()), urls).with_netrc(Netrc::default())
}

async fn find(index: &Index, project: &str, filename: &str) -> DistFile {
    let name: PackageName = project.parse().unwrap();
    let files = index.project(&name).await.unwrap();
    files
        .into_iter()
        .find(|f| f.filename == filename)
        .unwrap_or_else(|| panic!("{filename} is not on PyPI's page of {project}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpie_metadata_through_ranges() {
    let cache = tempfile::tempdir().unwrap();
    let index = pypi(&cache);
    let file = find(&index, "HTTPie", "httpie-3.2.4-py3-none-any.whl").await;
    assert_eq!(
        file.sha256.unwrap().to_string(),
        "4bd0435cc4b9bca59501bc65089de96f3e93b393803f32a81951db62050ebf0b"
    );
    assert_eq!(file.requires_python.as_deref(), Some(">=3.7"));
    assert!(
        file.url
            .as_str()
            .starts_with("https://files.pythonhosted.org/packages/")
    );

    let before = index.transfer_stats();
    let metadata = String::from_utf8(index.wheel_metadata(&file).await.unwrap()).unwrap();
    let after = index.transfer_stats();
    assert!(metadata.contains("Name: httpie\n"), "{metadata}");
    assert!(metadata.contains("Version: 3.2.4\n"), "{metadata}");
    assert!(metadata.contains("Requires-Dist: requests"), "{metadata}");
    // The wheel was not downloaded: not in the blob cache, and few bytes moved.
    assert!(index.fetcher().cache().get(&file.sha256.unwrap()).is_none());
    assert!(
        after.requests - before.requests <= 3,
        "{before:?} {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_wheel_metadata_costs_little() {
    let cache = tempfile::tempdir().unwrap();
    let index = pypi(&cache);
    let file = find(
        &index,
        "numpy",
        "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    .await;
    let before = index.transfer_stats();
    let metadata = String::from_utf8(index.wheel_metadata(&file).await.unwrap()).unwrap();
    let after = index.transfer_stats();
    assert!(metadata.contains("Name: numpy\n") && metadata.contains("Version: 2.1.3\n"));
    let bytes = after.bytes - before.bytes;
    eprintln!(
        "numpy 2.1.3 (~16 MB wheel) METADATA: {bytes} bytes in {} requests",
        after.requests - before.requests
    );
    assert!(bytes < 1_000_000, "{bytes} bytes transferred");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_project_is_not_found() {
    let cache = tempfile::tempdir().unwrap();
    let name: PackageName = "no-such-project-grocker-xyz".parse().unwrap();
    let e = pypi(&cache).project(&name).await.unwrap_err();
    assert!(matches!(e, PypiError::NotFound { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "no project named `no-such-project-grocker-xyz` on https://pypi.org/simple — check the \
         spelling, or add the index that hosts it with --extra-index-url"
    );
}
