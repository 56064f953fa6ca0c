use super::*;

const H1: &str = "4bd0435cc4b9bca59501bc65089de96f3e93b393803f32a81951db62050ebf0b";
const H2: &str = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254";

fn parse(url: &str, content_type: Option<&str>, body: &str) -> Result<Vec<DistFile>, PypiError> {
    let url: Url = url.parse().unwrap();
    let index: Url = "https://index.example/simple/".parse().unwrap();
    parse_page(&RawPage {
        name: "demo",
        url: &url,
        content_type,
        body: body.as_bytes(),
        index: &index,
    })
}

#[test]
fn html_pages() {
    let body = format!(
        "<!DOCTYPE html><html><body>\n\
         <a href=\"../../packages/demo-1.0-py3-none-any.whl#sha256={H1}\" \
            data-requires-python=\"&gt;=3.7\" data-upload-time=\"2024-01-01T00:00:00Z\">demo-1.0-py3-none-any.whl</a><br/>\n\
         <a href=\"https://files.example/demo-0.9.tar.gz#md5=abc\" data-yanked=\"broken &amp; bad\">demo-0.9.tar.gz</a>\n\
         <a href=\"/p/demo-1.1-py3-none-any.whl#sha256={H2}\" data-core-metadata=\"sha256={H1}\" data-yanked>demo-1.1-py3-none-any.whl</a>\n\
         <a href=\"/p/demo-1.2-py3-none-any.whl\" data-dist-info-metadata=\"true\">demo-1.2-py3-none-any.whl</a>\n\
         </body></html>"
    );
    let files = parse(
        "https://index.example/simple/demo/",
        Some("text/html; charset=utf-8"),
        &body,
    )
    .unwrap();
    assert_eq!(files.len(), 4);
    let f = &files[0];
    assert_eq!(f.filename, "demo-1.0-py3-none-any.whl");
    assert_eq!(
        f.url.as_str(),
        "https://index.example/packages/demo-1.0-py3-none-any.whl"
    );
    assert_eq!(f.sha256.unwrap().to_string(), H1);
    assert_eq!(f.requires_python.as_deref(), Some(">=3.7"));
    assert_eq!(f.yanked, None);
    assert_eq!(f.core_metadata, None);
    assert_eq!(f.upload_time.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(f.index.as_str(), "https://index.example/simple/");
    assert!(f.is_wheel());

    assert_eq!(files[1].sha256, None); // md5 only
    assert_eq!(files[1].yanked.as_deref(), Some("broken & bad"));
    assert!(!files[1].is_wheel());

    assert_eq!(files[2].yanked.as_deref(), Some(""));
    assert_eq!(
        files[2].core_metadata.unwrap().sha256.unwrap().to_string(),
        H1
    );
    assert_eq!(
        files[2].metadata_url().as_str(),
        "https://index.example/p/demo-1.1-py3-none-any.whl.metadata"
    );
    assert_eq!(files[3].core_metadata, Some(MetadataHint { sha256: None }));
}

#[test]
fn html_base_href_and_linkless_text() {
    let files = parse(
        "https://index.example/simple/demo/",
        Some("application/vnd.pypi.simple.v1+html"),
        "<html><head><base href=\"https://cdn.example/files/\"></head>\
         <a href=\"demo%2B1-1.0.tar.gz\"></a><a>no href</a>",
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].filename, "demo+1-1.0.tar.gz");
    assert_eq!(
        files[0].url.as_str(),
        "https://cdn.example/files/demo%2B1-1.0.tar.gz"
    );
}

#[test]
fn json_pages() {
    let body = format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "name": "demo", "versions": ["1.0"], "files": [
          {{"filename": "demo-1.0-py3-none-any.whl", "url": "../../packages/demo-1.0-py3-none-any.whl#frag",
            "hashes": {{"sha256": "{H1}", "md5": "00"}}, "requires-python": ">=3.8",
            "core-metadata": {{"sha256": "{H2}"}}, "size": 1234, "yanked": false,
            "upload-time": "2024-01-01T00:00:00.000000Z"}},
          {{"filename": "demo-0.9.tar.gz", "url": "https://files.example/demo-0.9.tar.gz",
            "hashes": {{}}, "yanked": "security hole", "dist-info-metadata": true}},
          {{"filename": "demo-0.8.tar.gz", "url": "demo-0.8.tar.gz", "hashes": {{}}, "yanked": true,
            "core-metadata": false, "requires-python": ""}}
        ]}}"#
    );
    let files = parse(
        "https://index.example/simple/demo/",
        Some("application/vnd.pypi.simple.v1+json"),
        &body,
    )
    .unwrap();
    assert_eq!(files.len(), 3);
    let f = &files[0];
    assert_eq!(
        f.url.as_str(),
        "https://index.example/packages/demo-1.0-py3-none-any.whl"
    );
    assert_eq!(f.sha256.unwrap().to_string(), H1);
    assert_eq!(f.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(f.core_metadata.unwrap().sha256.unwrap().to_string(), H2);
    assert_eq!(f.size, Some(1234));
    assert_eq!(f.yanked, None);
    assert_eq!(files[1].yanked.as_deref(), Some("security hole"));
    assert_eq!(files[1].core_metadata, Some(MetadataHint { sha256: None }));
    assert_eq!(files[2].yanked.as_deref(), Some(""));
    assert_eq!(files[2].core_metadata, None);
    assert_eq!(files[2].requires_python, None);
    assert_eq!(
        files[2].url.as_str(),
        "https://index.example/simple/demo/demo-0.8.tar.gz"
    );
}

#[test]
fn sniffs_pages_without_content_type() {
    let json = r#"{"meta": {"api-version": "1.0"}, "files": []}"#;
    assert!(
        parse("https://i.example/simple/demo/", None, json)
            .unwrap()
            .is_empty()
    );
    let html = "  <html><a href=\"x-1.0.tar.gz\">x-1.0.tar.gz</a></html>";
    assert_eq!(
        parse("https://i.example/simple/demo/", None, html)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn refuses_what_is_not_an_index_page() {
    let e = parse(
        "https://i.example/simple/demo/",
        Some("application/pdf"),
        "%PDF",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the index page of `demo` at https://i.example/simple/demo/ is neither PEP 691 JSON nor \
         HTML (Content-Type: application/pdf) — check that the index URL points at a simple \
         repository API (e.g. …/simple)"
    );
    let e = parse(
        "https://i.example/simple/demo/",
        Some("application/vnd.pypi.simple.v1+json"),
        r#"{"meta": {"api-version": "2.0"}, "files": []}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("API version 2.0"), "{e}");
    let e = parse(
        "https://i.example/simple/demo/",
        Some("text/html"),
        "<a href=\"x.whl#sha256=nothex\">x.whl</a>",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("lists `x.whl` with a bad sha256"),
        "{e}"
    );
}
