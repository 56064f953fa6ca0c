//! A local index with real wheels: a PEP 503 HTML index (`/a/simple/`), a PEP 691 JSON index
//! (`/b/simple/`) whose files live on a second host (grocker-testkit's `FileServer`, like
//! files.pythonhosted.org) with PEP 658 metadata files.

use std::time::Duration;

use grocker_hash::Sha256;
use grocker_pypi::{DistFile, Index, IndexUrls, MetadataHint, Netrc, PackageName, PypiError};
use grocker_testkit::FileServer;
use tempfile::TempDir;

use crate::server::Server;
use crate::{fetcher, read_data};

const SIX: &str = "six-1.16.0-py2.py3-none-any.whl";
const IDNA: &str = "idna-3.10-py3-none-any.whl";
const PACKAGING: &str = "packaging-24.2-py3-none-any.whl";

struct Fixture {
    server: Server,
    files: FileServer,
    cache: TempDir,
    _files_dir: TempDir,
}

fn sha(name: &str) -> String {
    Sha256::digest(&read_data(name)).to_string()
}

fn fixture() -> Fixture {
    let server = Server::start();
    let base = server.url();
    for wheel in [SIX, IDNA, PACKAGING] {
        server.add(
            &format!("/files/{wheel}"),
            "application/octet-stream",
            read_data(wheel),
        );
    }
    server.add(
        "/a/simple/six/",
        "text/html",
        format!(
            "<!DOCTYPE html>\n<html><body><h1>Links for six</h1>\n\
             <a href=\"../../../files/{SIX}#sha256={}\" data-requires-python=\"&gt;=2.7, !=3.0.*\">{SIX}</a><br/>\n\
             <a href=\"/files/six-1.15.0.tar.gz\" data-yanked=\"broken &amp; bad\">six-1.15.0.tar.gz</a><br/>\n\
             </body></html>\n",
            sha(SIX)
        ),
    );
    server.add(
        "/a/simple/idna/",
        "text/html; charset=utf-8",
        format!(
            "<a href=\"{base}/files/{IDNA}#sha256={}\">{IDNA}</a>",
            sha(IDNA)
        ),
    );
    // Moved: relative links must resolve against the final URL (/m/packaging/ → /files/...),
    // not the one asked for (/a/simple/packaging/ → /a/files/..., which does not exist).
    server.redirect("/a/simple/packaging/", "/m/packaging/");
    server.add(
        "/m/packaging/",
        "text/html",
        format!(
            "<a href=\"../../files/{PACKAGING}#sha256={}\">{PACKAGING}</a>",
            sha(PACKAGING)
        ),
    );

    let files_dir = tempfile::tempdir().unwrap();
    fs_err::write(files_dir.path().join(IDNA), read_data(IDNA)).unwrap();
    let metadata = read_data(&format!("{IDNA}.METADATA"));
    fs_err::write(files_dir.path().join(format!("{IDNA}.metadata")), &metadata).unwrap();
    let files = FileServer::serve(files_dir.path());
    server.add(
        "/b/simple/idna/",
        "application/vnd.pypi.simple.v1+json",
        format!(
            r#"{{"meta": {{"api-version": "1.1"}}, "name": "idna", "files": [
              {{"filename": "{IDNA}", "url": "{}/{IDNA}", "hashes": {{"sha256": "{}"}},
                "requires-python": ">=3.6", "core-metadata": {{"sha256": "{}"}},
                "size": {}, "yanked": false}}]}}"#,
            files.url(),
            sha(IDNA),
            Sha256::digest(&metadata),
            read_data(IDNA).len()
        ),
    );
    Fixture {
        server,
        files,
        cache: tempfile::tempdir().unwrap(),
        _files_dir: files_dir,
    }
}

impl Fixture {
    fn index(&self) -> Index {
        let base = self.server.url();
        let urls = IndexUrls {
            index: format!("{base}/a/simple").parse().unwrap(),
            extra: vec![format!("{base}/b/simple/").parse().unwrap()],
        };
        Index::new(fetcher(self.cache.path()), urls).with_netrc(Netrc::default())
    }

    /// Requests for wheel files on the index host.
    fn file_requests(&self) -> Vec<crate::server::Logged> {
        let log = self.server.log();
        log.into_iter()
            .filter(|l| l.path.starts_with("/files/"))
            .collect()
    }
}

fn name(s: &str) -> PackageName {
    s.parse().unwrap()
}

async fn file(index: &Index, project: &str, filename: &str) -> DistFile {
    let files = index.project(&name(project)).await.unwrap();
    files
        .into_iter()
        .find(|f| f.filename == filename)
        .unwrap_or_else(|| panic!("{filename} not listed"))
}

#[tokio::test]
async fn lists_files_from_html_and_json_indexes() {
    let fx = fixture();
    let index = fx.index();
    let base = fx.server.url();

    // Asked as `SIX`, looked up at the normalized name, on both indexes, with PEP 691's Accept.
    let files = index.project(&name("SIX")).await.unwrap();
    let log = fx.server.log();
    let paths: Vec<&str> = log.iter().map(|l| l.path.as_str()).collect();
    assert!(
        paths.contains(&"/a/simple/six/") && paths.contains(&"/b/simple/six/"),
        "{paths:?}"
    );
    assert_eq!(log[0].accept.as_deref(), Some(grocker_pypi::ACCEPT));
    assert_eq!(files.len(), 2);
    let six = &files[0];
    assert_eq!(six.filename, SIX);
    assert_eq!(six.url.as_str(), format!("{base}/files/{SIX}"));
    assert_eq!(six.sha256.unwrap().to_string(), sha(SIX));
    assert_eq!(six.requires_python.as_deref(), Some(">=2.7, !=3.0.*"));
    assert_eq!(six.yanked, None);
    assert_eq!(six.core_metadata, None);
    assert_eq!(six.index.as_str(), format!("{base}/a/simple"));
    assert_eq!(files[1].yanked.as_deref(), Some("broken & bad"));

    // The union: idna is on both indexes, HTML first.
    let idna = index.project(&name("idna")).await.unwrap();
    assert_eq!(idna.len(), 2);
    assert_eq!(idna[0].url.as_str(), format!("{base}/files/{IDNA}"));
    assert_eq!(idna[0].core_metadata, None);
    let json = &idna[1];
    assert_eq!(json.url.as_str(), format!("{}/{IDNA}", fx.files.url()));
    assert_eq!(json.sha256, idna[0].sha256);
    assert_eq!(json.requires_python.as_deref(), Some(">=3.6"));
    assert_eq!(json.size, Some(read_data(IDNA).len() as u64));
    assert!(json.core_metadata.unwrap().sha256.is_some());
    assert_eq!(json.index.as_str(), format!("{base}/b/simple/"));
}

#[tokio::test]
async fn relative_links_resolve_against_the_final_url() {
    let fx = fixture();
    let files = fx.index().project(&name("packaging")).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].url.as_str(),
        format!("{}/files/{PACKAGING}", fx.server.url())
    );
}

#[tokio::test]
async fn unknown_projects_name_the_indexes_asked() {
    let fx = fixture();
    let e = fx.index().project(&name("reqeusts")).await.unwrap_err();
    let base = fx.server.url();
    assert!(matches!(e, PypiError::NotFound { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "no project named `reqeusts` on {base}/a/simple, {base}/b/simple/ — check the \
             spelling, or add the index that hosts it with --extra-index-url"
        )
    );
}

#[tokio::test]
async fn pages_are_cached_for_a_while() {
    let fx = fixture();
    let index = fx.index();
    index.project(&name("six")).await.unwrap();
    index.project(&name("six")).await.unwrap();
    // Only the page found is cached; the 404 of the extra index is asked again.
    assert_eq!(
        fx.server
            .log()
            .iter()
            .filter(|l| l.path == "/a/simple/six/")
            .count(),
        1
    );
    let index = index.with_page_ttl(Duration::ZERO);
    index.project(&name("six")).await.unwrap();
    assert_eq!(
        fx.server
            .log()
            .iter()
            .filter(|l| l.path == "/a/simple/six/")
            .count(),
        2
    );
}

#[tokio::test]
async fn metadata_through_range_requests_only() {
    let fx = fixture();
    // A small first range, so that the central directory and METADATA need their own requests.
    let index = fx.index().with_range_tail(100);
    let idna = file(&index, "idna", IDNA).await; // from the HTML index: no .metadata
    fx.server.clear_log();
    let before = index.transfer_stats();
    let metadata = index.wheel_metadata(&idna).await.unwrap();
    assert_eq!(metadata, read_data(&format!("{IDNA}.METADATA")));
    let requests = fx.file_requests();
    assert_eq!(requests.len(), 3, "{requests:?}"); // tail, directory, METADATA
    assert!(
        requests
            .iter()
            .all(|r| r.range.is_some() && r.status == 206),
        "{requests:?}"
    );
    assert_eq!(requests[0].range.as_deref(), Some("bytes=-100"));
    let sent: usize = requests.iter().map(|r| r.sent).sum();
    assert!(sent < read_data(IDNA).len() / 2, "{sent} bytes");
    let after = index.transfer_stats();
    assert_eq!(after.requests - before.requests, 3);
    assert_eq!((after.bytes - before.bytes) as usize, sent);

    // With the default first range a small wheel costs one request.
    fx.server.clear_log();
    let six = file(&index, "six", SIX).await;
    let metadata = fx.index().wheel_metadata(&six).await.unwrap();
    assert_eq!(metadata, read_data(&format!("{SIX}.METADATA")));
    assert_eq!(fx.file_requests().len(), 1);

    // Cached forever, by the wheel's hash: no request at all the second time.
    fx.server.clear_log();
    assert_eq!(
        index.wheel_metadata(&idna).await.unwrap(),
        metadata_of(IDNA)
    );
    assert!(fx.server.log().is_empty());
}

fn metadata_of(wheel: &str) -> Vec<u8> {
    read_data(&format!("{wheel}.METADATA"))
}

#[tokio::test]
async fn metadata_falls_back_to_a_full_download() {
    let fx = fixture();
    fx.server.ignore_ranges(true);
    let index = fx.index();
    let packaging = file(&index, "packaging", PACKAGING).await;
    fx.server.clear_log();
    let metadata = index.wheel_metadata(&packaging).await.unwrap();
    assert_eq!(metadata, metadata_of(PACKAGING));
    let requests = fx.file_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].range.is_some() && requests[0].status == 200);
    assert!(requests[1].range.is_none() && requests[1].status == 200);
    // The download is verified and kept for the install.
    let cached = index.fetcher().cache().get(&packaging.sha256.unwrap());
    assert!(cached.is_some());
}

#[tokio::test]
async fn metadata_from_pep_658_files() {
    let fx = fixture();
    let index = fx.index();
    let files = index.project(&name("idna")).await.unwrap();
    let json = files.iter().find(|f| f.core_metadata.is_some()).unwrap();
    let metadata = index.wheel_metadata(json).await.unwrap();
    assert_eq!(metadata, metadata_of(IDNA));
    assert_eq!(fx.files.requests(), [format!("/{IDNA}.metadata")]);

    // A metadata file that does not match its advertised hash is refused.
    let mut tampered = json.clone();
    tampered.sha256 = Some(Sha256::digest(b"another wheel"));
    tampered.core_metadata = Some(MetadataHint {
        sha256: Some(Sha256::digest(b"something else")),
    });
    let e = index.wheel_metadata(&tampered).await.unwrap_err();
    assert!(matches!(e, PypiError::MetadataHashMismatch { .. }), "{e}");
}

#[tokio::test]
async fn a_corrupt_wheel_is_an_error_naming_it() {
    let fx = fixture();
    let index = fx.index();
    let mut six = file(&index, "six", SIX).await;
    let mut garbage = read_data(SIX);
    let len = garbage.len();
    garbage[len - 40..].fill(0); // destroys the end of central directory
    fx.server
        .add("/files/broken.whl", "application/octet-stream", garbage);
    six.url = format!("{}/files/broken.whl", fx.server.url())
        .parse()
        .unwrap();
    six.filename = "broken-1.0-py3-none-any.whl".into();
    // Ranges fail to find a zip, the full download then fails its sha256.
    let e = index.wheel_metadata(&six).await.unwrap_err();
    assert!(
        e.to_string().contains("does not match its expected hash"),
        "{e}"
    );
    // Without a hash to check, the zip reader's verdict is the error.
    six.sha256 = None;
    let e = index.wheel_metadata(&six).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read the metadata of `broken-1.0-py3-none-any.whl`"),
        "{e}"
    );
}

#[tokio::test]
async fn credentials_are_sent_but_never_shown() {
    let fx = fixture();
    let base = fx.server.url().replace("http://", "http://alice:s3cret@");
    let urls = IndexUrls {
        index: format!("{base}/a/simple/").parse().unwrap(),
        extra: vec![],
    };
    let index = Index::new(fetcher(fx.cache.path()), urls).with_netrc(Netrc::default());
    let six = file(&index, "six", SIX).await;
    assert!(!six.url.as_str().contains("s3cret") && !six.index.as_str().contains("s3cret"));
    index.wheel_metadata(&six).await.unwrap();
    // alice:s3cret, base64
    let auth = Some("Basic YWxpY2U6czNjcmV0".to_string());
    assert!(
        fx.server.log().iter().all(|l| l.authorization == auth),
        "{:?}",
        fx.server.log()
    );
    let e = index.project(&name("nope")).await.unwrap_err();
    assert!(
        !e.to_string().contains("s3cret") && !format!("{e:?}").contains("s3cret"),
        "{e}"
    );
    assert!(!format!("{index:?}").contains("s3cret"));

    // Without credentials in the URL, netrc provides them.
    let urls = IndexUrls::new(format!("{}/a/simple/", fx.server.url()).parse().unwrap());
    let netrc = Netrc::parse("machine 127.0.0.1 login bob password pw");
    let index = Index::new(fetcher(fx.cache.path()), urls)
        .with_netrc(netrc)
        .with_page_ttl(Duration::ZERO);
    fx.server.clear_log();
    index.project(&name("six")).await.unwrap();
    assert_eq!(
        fx.server.log()[0].authorization.as_deref(),
        Some("Basic Ym9iOnB3")
    );
}
