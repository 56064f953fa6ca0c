//! The sinks, checked by the tools people use on what they write: skopeo, umoci, docker, and
//! a real registry (`registry/`).
//! End-to-end tests fail (never skip) when a tool or the engine is missing (DESIGN §8).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use grocker_oci::{
    Compression, Descriptor, DockerArchiveSink, DockerEngineSink, Image, ImageConfig, ImageName,
    Layer, MediaType, OciError, OciLayoutSink, Sink,
};
use serde_json::Value;

const GREETING: &[u8] = b"hello from grocker\n";

/// A 153-byte static x86-64 Linux program that prints GREETING and exits 0: something to
/// `docker run` in an image built from scratch, with no image pulled and no package installed.
fn hello_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let mut code = vec![
        0xb8,
        1,
        0,
        0,
        0, // mov eax, 1 (write)
        0xbf,
        1,
        0,
        0,
        0, // mov edi, 1 (stdout)
        0x48,
        0x8d,
        0x35,
        16,
        0,
        0,
        0, // lea rsi, [rip + 16] (the message)
        0xba,
        GREETING.len() as u8,
        0,
        0,
        0, // mov edx, len
        0x0f,
        0x05, // syscall
        0xb8,
        60,
        0,
        0,
        0, // mov eax, 60 (exit)
        0x31,
        0xff, // xor edi, edi
        0x0f,
        0x05, // syscall
    ];
    code.extend_from_slice(GREETING);
    let total = HEADERS + code.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no sections
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for word in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(&code);
    elf
}

/// Writes a small deterministic tar: `/hello` and `/etc/greeting.txt`.
fn write_tar(w: &mut dyn Write, greeting: &[u8]) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(w);
    let elf = hello_elf();
    for (path, mode, data) in [
        ("etc/", 0o755, &b""[..]),
        ("etc/greeting.txt", 0o644, greeting),
        ("hello", 0o755, &elf[..]),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_path(path)?;
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        header.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_cksum();
        tar.append(&header, data)?;
    }
    tar.finish()
}

fn image(layers: &Path, compression: Compression, greeting: &[u8]) -> Image {
    let layer = Layer::build(layers, compression, "grocker test layer", |w| {
        write_tar(w, greeting)
    })
    .unwrap();
    let config = ImageConfig {
        entrypoint: vec!["/hello".into()],
        user: "65532:65532".into(),
        env: vec![("PATH".into(), "/usr/bin".into())],
        labels: BTreeMap::from([("org.opencontainers.image.title".into(), "test".into())]),
        created: 1_700_000_000,
        ..ImageConfig::default()
    };
    let annotations = BTreeMap::from([(
        "org.opencontainers.image.created".into(),
        "2023-11-14T22:13:20Z".into(),
    )]);
    Image::new(&config, vec![layer], annotations).unwrap()
}

fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A name no other test (or concurrent run) uses.
fn unique_name(what: &str) -> ImageName {
    format!("grocker-oci-test/{what}:{}", std::process::id())
        .parse()
        .unwrap()
}

#[test]
fn oci_layout_reads_back_with_skopeo_and_umoci() {
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let dir = tmp.path().join("out");
    let mut sink = Box::new(OciLayoutSink::new(&dir).unwrap());
    let published = sink.publish(&image, &"app:1.0".parse().unwrap()).unwrap();
    sink.finish().unwrap();
    assert_eq!(published.digest, image.digest());
    assert_eq!(published.location, format!("oci:{}:1.0", dir.display()));

    let reference = format!("oci:{}:1.0", dir.display());
    assert_eq!(
        run("skopeo", &["inspect", "--raw", &reference]),
        image.manifest_bytes()
    );
    assert_eq!(
        run("skopeo", &["inspect", "--config", "--raw", &reference]),
        image.config_bytes()
    );
    let inspect = json(&run("skopeo", &["inspect", &reference]));
    assert_eq!(inspect["Digest"], image.digest().to_string());
    assert_eq!(inspect["Env"][0], "PATH=/usr/bin");

    // umoci checks every blob digest while unpacking.
    let bundle = tmp.path().join("bundle");
    let image_arg = format!("{}:1.0", dir.display());
    run(
        "umoci",
        &["unpack", "--image", &image_arg, bundle.to_str().unwrap()],
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        fs_err::read(rootfs.join("etc/greeting.txt")).unwrap(),
        GREETING
    );
    assert_eq!(fs_err::read(rootfs.join("hello")).unwrap(), hello_elf());
    let runtime = json(&fs_err::read(bundle.join("config.json")).unwrap());
    assert_eq!(runtime["process"]["args"][0], "/hello");
    assert_eq!(runtime["process"]["user"]["uid"], 65532);
}

#[test]
fn oci_layout_replaces_the_same_tag_and_keeps_others() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = tmp.path().join("layers");
    let first = image(&layers, Compression::Gzip, b"one\n");
    let second = image(&layers, Compression::Zstd, b"two\n");
    let dir = tmp.path().join("out");
    fs_err::create_dir(&dir).unwrap(); // an empty directory is fine
    let mut sink = OciLayoutSink::new(&dir).unwrap();
    sink.publish(&first, &"app:1.0".parse().unwrap()).unwrap();
    sink.publish(&first, &"app:keep".parse().unwrap()).unwrap();
    // A second sink on the now existing layout: it is ours.
    let mut sink = OciLayoutSink::new(&dir).unwrap();
    sink.publish(&second, &"app:1.0".parse().unwrap()).unwrap();

    let index = json(&fs_err::read(dir.join("index.json")).unwrap());
    let refs: Vec<(&str, &str)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap(),
                m["digest"].as_str().unwrap(),
            )
        })
        .collect();
    let (d1, d2) = (first.digest().to_string(), second.digest().to_string());
    assert_eq!(refs, [("keep", d1.as_str()), ("1.0", d2.as_str())]);
    for (tag, digest) in [("1.0", &d2), ("keep", &d1)] {
        let reference = format!("oci:{}:{tag}", dir.display());
        assert_eq!(
            json(&run("skopeo", &["inspect", &reference]))["Digest"],
            **digest
        );
    }
    // No temp files are left over.
    let blobs = fs_err::read_dir(dir.join("blobs/sha256")).unwrap();
    for blob in blobs {
        let name = blob.unwrap().file_name().into_string().unwrap();
        assert_eq!(name.len(), 64, "{name}");
    }
}

#[test]
fn destinations_that_are_not_ours_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    fs_err::create_dir(&notes).unwrap();
    fs_err::write(notes.join("todo.txt"), "mine").unwrap();
    let text = tmp.path().join("report.txt");
    fs_err::write(&text, "not a tar").unwrap();

    for path in [&notes, &text] {
        let err = OciLayoutSink::new(path).unwrap_err();
        assert!(
            matches!(&err, OciError::DestinationNotOurs { path: p, .. } if p == path),
            "{err}"
        );
    }
    let err = DockerArchiveSink::new(&text).unwrap_err();
    assert!(matches!(&err, OciError::DestinationNotOurs { .. }), "{err}");
    assert!(err.to_string().contains("report.txt"), "{err}");
    let err = DockerArchiveSink::new(&notes).unwrap_err();
    assert!(matches!(&err, OciError::DestinationNotOurs { .. }), "{err}");
    assert_eq!(
        fs_err::read_to_string(notes.join("todo.txt")).unwrap(),
        "mine"
    );
    assert_eq!(fs_err::read_to_string(&text).unwrap(), "not a tar");
}

#[test]
fn missing_layer_blob_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let built = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let layer = &built.layers()[0];
    let gone = Layer::from_parts(
        &tmp.path().join("elsewhere"),
        layer.diff_id,
        layer.descriptor.clone(),
        layer.uncompressed_size,
        "gone",
    );
    let broken = Image::new(&ImageConfig::default(), vec![gone], BTreeMap::new()).unwrap();
    let mut sink = OciLayoutSink::new(&tmp.path().join("out")).unwrap();
    let err = sink.publish(&broken, &"app".parse().unwrap()).unwrap_err();
    assert!(
        matches!(&err, OciError::BadBlob { digest, .. } if *digest == layer.digest()),
        "{err}"
    );
    assert!(
        !tmp.path().join("out").exists(),
        "nothing created at the destination"
    );

    let file = tmp.path().join("a.tar");
    let mut sink = Box::new(DockerArchiveSink::new(&file).unwrap());
    sink.publish(&broken, &"app".parse().unwrap()).unwrap();
    let err = sink.finish().unwrap_err();
    assert!(matches!(&err, OciError::BadBlob { .. }), "{err}");
    assert!(!file.exists());
    let left: Vec<_> = fs_err::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["layers"], "no temp file left");
}

/// Flips three bytes in the middle of `path`, keeping its size.
fn damage(path: &Path) {
    let mut bytes = fs_err::read(path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 3] {
        *b ^= 0xff;
    }
    fs_err::write(path, bytes).unwrap();
}

/// Issue #13 item 3: a layer blob damaged after it was built (same size) is never copied out.
#[test]
fn damaged_layer_blob_is_named_and_never_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let built = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let layer = &built.layers()[0];
    damage(&layer.blob);
    let is_bad_blob = |err: &OciError| {
        matches!(err, OciError::BadBlob { digest, path, .. }
            if *digest == layer.digest() && *path == layer.blob)
    };

    let out = tmp.path().join("out");
    let mut sink = OciLayoutSink::new(&out).unwrap();
    let err = sink.publish(&built, &"app".parse().unwrap()).unwrap_err();
    assert!(is_bad_blob(&err), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
    let blobs: Vec<_> = fs_err::read_dir(out.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(blobs.is_empty(), "nothing copied, no temp file: {blobs:?}");
    assert!(!out.join("index.json").exists());

    let file = tmp.path().join("a.tar");
    let mut sink = Box::new(DockerArchiveSink::new(&file).unwrap());
    sink.publish(&built, &"app".parse().unwrap()).unwrap();
    let err = sink.finish().unwrap_err();
    assert!(is_bad_blob(&err), "{err:?}");
    assert!(!file.exists());
}

/// A temp file as grocker's atomic writes name them (`.NAME.XXXXXX.tmp`), held locked the way
/// a live build holds its own: removing it would break a write in progress.
fn live_temp(path: &Path) -> fs_err::File {
    let file = fs_err::File::create(path).unwrap();
    file.file().lock().unwrap();
    file
}

/// Issue #13 item 4: what a `kill -9` or a full disk leaves of `-o oci:DIR` (blobs, temp
/// files, no `oci-layout` or `index.json`) is recognised as grocker's and completed by the
/// next run, which removes the dead run's temp files.
#[test]
fn an_interrupted_oci_layout_is_resumed_and_its_temp_files_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let built = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let layer = &built.layers()[0];
    let out = tmp.path().join("out");
    let blobs = out.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).unwrap();
    // The layer was copied; the config blob and a first index were being written.
    fs_err::copy(&layer.blob, blobs.join(layer.digest().hex())).unwrap();
    let config_temp = blobs.join(format!(".{}.Ab3xYz.tmp", built.config_digest().hex()));
    fs_err::write(&config_temp, &built.config_bytes()[..10]).unwrap();
    let index_temp = out.join(".index.json.q1W2e3.tmp");
    fs_err::write(&index_temp, b"{\"schemaVer").unwrap();
    // Another build writing the same layout right now keeps its temp file.
    let in_use = blobs.join(format!(".{}.L1ve00.tmp", "a".repeat(64)));
    let _held = live_temp(&in_use);

    let mut sink = Box::new(OciLayoutSink::new(&out).unwrap());
    assert!(
        !config_temp.exists() && !index_temp.exists(),
        "dead temp files removed"
    );
    assert!(in_use.exists(), "a temp file in use is left alone");
    sink.publish(&built, &"app:1.0".parse().unwrap()).unwrap();
    sink.finish().unwrap();
    let reference = format!("oci:{}:1.0", out.display());
    assert_eq!(
        run("skopeo", &["inspect", "--raw", &reference]),
        built.manifest_bytes()
    );
    assert_eq!(
        fs_err::read(blobs.join(built.config_digest().hex())).unwrap(),
        built.config_bytes()
    );

    // Killed after `oci-layout` (what grocker writes first now), the layout is resumed too.
    fs_err::remove_file(out.join("index.json")).unwrap();
    fs_err::write(out.join(".index.json.Zz9yX8.tmp"), b"{").unwrap();
    let mut sink = Box::new(OciLayoutSink::new(&out).unwrap());
    assert!(!out.join(".index.json.Zz9yX8.tmp").exists());
    sink.publish(&built, &"app:1.0".parse().unwrap()).unwrap();
    assert!(out.join("index.json").is_file());
}

/// What only looks like an interrupted layout is someone else's, and is refused untouched.
#[test]
fn a_directory_that_is_not_a_partial_layout_is_still_refused() {
    for stray in [
        "blobs/sha256/notes.txt",
        "blobs/sha512/0123",
        "index.json",
        "notes.tmp",
        ".notes.txt.tmp",
        "blobs/sha256/.notes.Ab3xYz.tmp",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let path = out.join(stray);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, b"mine").unwrap();
        let err = OciLayoutSink::new(&out).unwrap_err();
        assert!(
            matches!(&err, OciError::DestinationNotOurs { .. }),
            "{stray}: {err}"
        );
        assert_eq!(fs_err::read(&path).unwrap(), b"mine", "{stray}");
    }
}

/// Issue #13 item 4: the archive's temp files a killed run left beside the destination (as
/// large as the archive) are removed by the next run to it — not another destination's, not
/// one a live build is writing.
#[test]
fn stale_docker_archive_temp_files_of_the_destination_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let built = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let file = tmp.path().join("app.tar");
    let stale = tmp.path().join(".app.tar.Xy12Ab.tmp");
    fs_err::write(&stale, vec![0; 4096]).unwrap();
    let other = tmp.path().join(".other.tar.Xy12Ab.tmp");
    fs_err::write(&other, b"").unwrap();
    let longer = tmp.path().join(".app.tar.gz.Xy12Ab.tmp");
    fs_err::write(&longer, b"").unwrap();
    let in_use = tmp.path().join(".app.tar.L1ve00.tmp");
    let _held = live_temp(&in_use);

    let mut sink = Box::new(DockerArchiveSink::new(&file).unwrap());
    assert!(!stale.exists(), "the dead run's temp file is removed");
    assert!(
        other.exists() && longer.exists(),
        "other destinations' are kept"
    );
    assert!(in_use.exists(), "a temp file in use is left alone");
    sink.publish(&built, &"app:1.0".parse().unwrap()).unwrap();
    sink.finish().unwrap();
    assert!(file.is_file());
}

fn write_archive(file: &Path, images: &[(&Image, &ImageName)]) {
    let mut sink = Box::new(DockerArchiveSink::new(file).unwrap());
    for (image, name) in images {
        let published = sink.publish(image, name).unwrap();
        assert_eq!(
            published.location,
            format!("docker-archive:{}", file.display())
        );
    }
    sink.finish().unwrap();
}

#[test]
fn docker_archive_reads_back_with_skopeo_as_docker_and_as_oci() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = tmp.path().join("layers");
    let image = image(&layers, Compression::Gzip, GREETING);
    let other = image_other(&layers);
    let name: ImageName = "127.0.0.1:5000/team/app:1.2".parse().unwrap();
    let other_name: ImageName = "other:2".parse().unwrap();
    let file = tmp.path().join("app.tar");
    write_archive(&file, &[(&image, &name), (&other, &other_name)]);

    // Byte for byte the same the second time, over the existing archive (which is ours).
    let first = fs_err::read(&file).unwrap();
    write_archive(&file, &[(&image, &name), (&other, &other_name)]);
    assert!(
        first == fs_err::read(&file).unwrap(),
        "archive is not deterministic"
    );

    for (reference, image) in [
        (format!("docker-archive:{}:{name}", file.display()), &image),
        (
            format!("docker-archive:{}:{other_name}", file.display()),
            &other,
        ),
    ] {
        assert_eq!(
            run("skopeo", &["inspect", "--config", "--raw", &reference]),
            image.config_bytes()
        );
    }
    // The same file is an OCI archive whose manifest is ours, byte for byte.
    let reference = format!("oci-archive:{}:1.2", file.display());
    assert_eq!(
        run("skopeo", &["inspect", "--raw", &reference]),
        image.manifest_bytes()
    );

    let listing = String::from_utf8(run("tar", &["-tf", file.to_str().unwrap()])).unwrap();
    for entry in ["manifest.json", "repositories", "index.json", "oci-layout"] {
        assert!(
            listing.lines().any(|l| l == entry),
            "{entry} missing: {listing}"
        );
    }
}

fn image_other(layers: &Path) -> Image {
    let layer = Layer::build(layers, Compression::Gzip, "other", |w| {
        write_tar(w, b"other\n")
    })
    .unwrap();
    Image::new(&ImageConfig::default(), vec![layer], BTreeMap::new()).unwrap()
}

fn docker_id(name: &ImageName) -> String {
    let id = run(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", &name.to_string()],
    );
    String::from_utf8(id).unwrap().trim().to_string()
}

fn docker_run(name: &ImageName) -> Vec<u8> {
    run(
        "docker",
        &["run", "--rm", "--network", "none", &name.to_string()],
    )
}

fn docker_rmi(name: &ImageName) {
    run("docker", &["image", "rm", "--force", &name.to_string()]);
}

#[test]
fn docker_loads_the_archive_and_runs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let name = unique_name("archive");
    let file = tmp.path().join("app.tar");
    write_archive(&file, &[(&image, &name)]);

    run("docker", &["load", "-i", file.to_str().unwrap()]);
    assert_eq!(docker_id(&name), image.config_digest().to_string());
    assert_eq!(docker_run(&name), GREETING);
    docker_rmi(&name);
}

#[test]
fn engine_sink_loads_into_the_local_engine() {
    let tmp = tempfile::tempdir().unwrap();
    // Uncompressed layers: what a local load wants; the image ID is the same either way.
    let image = image(&tmp.path().join("layers"), Compression::None, GREETING);
    let name = unique_name("engine");
    let mut sink = Box::new(DockerEngineSink::from_env().unwrap());
    let published = sink.publish(&image, &name).unwrap();
    sink.finish().unwrap();
    assert_eq!(published.digest, image.config_digest());
    assert_eq!(
        published.location,
        format!("docker (image id {})", image.config_digest())
    );
    assert_eq!(docker_id(&name), image.config_digest().to_string());
    assert_eq!(docker_run(&name), GREETING);
    docker_rmi(&name);
}

/// `below` under one more layer holding `etc/extra` = `extra`.
fn stacked(layers: &Path, below: &[Layer], extra: &[u8]) -> Image {
    let top = Layer::build(layers, Compression::Gzip, "grocker test top layer", |w| {
        let mut tar = tar::Builder::new(w);
        let mut header = tar::Header::new_ustar();
        header.set_path("etc/extra")?;
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(extra.len() as u64);
        header.set_cksum();
        tar.append(&header, extra)?;
        tar.finish()
    })
    .unwrap();
    let config = ImageConfig {
        entrypoint: vec!["/hello".into()],
        created: 1_700_000_000,
        ..ImageConfig::default()
    };
    let mut layers = below.to_vec();
    layers.push(top);
    Image::new(&config, layers, BTreeMap::new()).unwrap()
}

#[test]
fn engine_sink_sends_only_the_layers_the_engine_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layers");
    let base = image(&dir, Compression::Gzip, GREETING);
    let first = stacked(&dir, &base.layers()[..1], b"one");
    let second = stacked(&dir, &base.layers()[..1], b"two");
    let name = unique_name("partial");
    let publish = |image: &Image| {
        let mut sink = Box::new(DockerEngineSink::from_env().unwrap());
        let published = sink.publish(image, &name).unwrap_or_else(|e| panic!("{e}"));
        sink.finish().unwrap();
        published
    };
    publish(&first);
    // The shared bottom layer's blob is gone: loading the second image only works if the sink
    // does not send it — the engine has it, under the same name.
    fs_err::remove_file(&base.layers()[0].blob).unwrap();
    let published = publish(&second);
    assert_eq!(published.digest, second.config_digest());
    assert_eq!(docker_id(&name), second.config_digest().to_string());
    assert_eq!(docker_run(&name), GREETING);
    // The same image again: nothing to send at all, and the same answer (the engine's ID is
    // the one compared, not asked for again).
    fs_err::remove_file(&second.layers()[1].blob).unwrap();
    assert_eq!(publish(&second), published);
    docker_rmi(&name);
}

/// An image on a base an earlier load gave the engine, under another name (an app on the
/// runtime `grocker root -o docker` loaded): the sink remembers, and leaves the base out.
#[test]
fn engine_sink_remembers_the_layers_it_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, memo) = (tmp.path().join("layers"), tmp.path().join("memo"));
    let base = image(&dir, Compression::Gzip, GREETING);
    // A layer no other test loads: the engine cannot have it from elsewhere.
    let unique = format!(
        "memo {} {:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let runtime = stacked(&dir, &base.layers()[..1], unique.as_bytes());
    let on_runtime = |extra: &[u8]| stacked(&dir, runtime.layers(), extra);
    let (app, other, third) = (
        on_runtime(b"app"),
        on_runtime(b"other"),
        on_runtime(b"third"),
    );
    let names: Vec<ImageName> = ["memo-runtime", "memo-app", "memo-other", "memo-third"]
        .into_iter()
        .map(unique_name)
        .collect();
    let publish = |image: &Image, name: &ImageName, remember: bool| {
        let mut sink = DockerEngineSink::from_env().unwrap();
        if remember {
            sink = sink.remembering_in(&memo);
        }
        let mut sink = Box::new(sink);
        let published = sink.publish(image, name);
        sink.finish().unwrap();
        published
    };
    publish(&runtime, &names[0], true).unwrap();
    // The engine forgot the runtime since: the memo is stale, and the whole archive is sent.
    docker_rmi(&names[0]);
    let published = publish(&app, &names[1], true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(published.digest, app.config_digest());
    assert_eq!(docker_run(&names[1]), GREETING);
    // The engine has the runtime again (under the app's name). Its blobs are gone here: the
    // next image on it loads only if the sink leaves them out, as the memo says it may.
    for layer in runtime.layers() {
        fs_err::remove_file(&layer.blob).unwrap();
    }
    publish(&other, &names[2], true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docker_id(&names[2]), other.config_digest().to_string());
    assert_eq!(docker_run(&names[2]), GREETING);
    // Without the memo, the sink sends every layer, and the missing blob stops it.
    assert!(publish(&third, &names[3], false).is_err());
    docker_rmi(&names[1]);
    docker_rmi(&names[2]);
}

#[test]
fn engine_errors_are_surfaced() {
    let err = DockerEngineSink::connect("unix:///nonexistent.sock").unwrap_err();
    assert!(
        matches!(&err, OciError::EngineUnreachable { host, .. } if host == "unix:///nonexistent.sock"),
        "{err}"
    );
    assert!(err.to_string().contains("hint:"), "{err}");

    // A layer whose diff ID is wrong: the engine refuses it, and says so in `errorDetail`.
    let tmp = tempfile::tempdir().unwrap();
    let good = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let layer = &good.layers()[0];
    let lying = Layer::from_parts(
        &tmp.path().join("layers"),
        grocker_oci::Digest::of(b"not the tar"),
        Descriptor::new(
            MediaType::OciLayerGzip,
            layer.digest(),
            layer.descriptor.size,
        ),
        layer.uncompressed_size,
        "lying",
    );
    let bad = Image::new(&ImageConfig::default(), vec![lying], BTreeMap::new()).unwrap();
    let mut sink = DockerEngineSink::from_env().unwrap();
    let err = sink.publish(&bad, &unique_name("lying")).unwrap_err();
    assert!(matches!(&err, OciError::Engine { .. }), "{err}");
    // Docker: `invalid diffID for layer 0: expected "sha256:…", got "sha256:…"`.
    assert!(err.to_string().to_lowercase().contains("diffid"), "{err}");
}

#[test]
fn podman_loads_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let name = unique_name("podman");
    let file = tmp.path().join("app.tar");
    write_archive(&file, &[(&image, &name)]);

    let loaded = run("podman", &["load", "-i", file.to_str().unwrap()]);
    let loaded = String::from_utf8(loaded).unwrap();
    assert!(loaded.contains(&name.normalized()), "{loaded}");
    let id = run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &name.normalized(),
        ],
    );
    assert_eq!(
        String::from_utf8(id).unwrap().trim(),
        image.config_digest().hex()
    );
    // No `podman run`: inside this sandbox runc may not set rlimits ("operation not permitted").
    let config = run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}",
            &name.normalized(),
        ],
    );
    assert_eq!(String::from_utf8(config).unwrap().trim(), r#"["/hello"]"#);
    run("podman", &["image", "rm", "--force", &name.normalized()]);
}

mod registry;

/// An index in a layout: `index.json` names it, it names each platform's manifest, and a
/// layer both images hold is one blob; one-platform sinks refuse it, saying what to do.
#[test]
fn oci_layout_holds_an_index_and_one_platform_sinks_refuse_it() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = tmp.path().join("layers");
    let base = image(&layers, Compression::Gzip, GREETING);
    let arm_config = ImageConfig {
        architecture: "arm64".into(),
        variant: Some("v8".into()),
        ..ImageConfig::default()
    };
    let arm = Image::new(&arm_config, base.layers().to_vec(), BTreeMap::new()).unwrap();
    let index =
        grocker_oci::ImageIndex::new(vec![base.clone(), arm.clone()], BTreeMap::new()).unwrap();
    let dir = tmp.path().join("out");
    let name: ImageName = "app:1.0".parse().unwrap();
    let mut sink = Box::new(OciLayoutSink::new(&dir).unwrap());
    let published = sink.publish_index(&index, &name).unwrap();
    sink.finish().unwrap();
    assert_eq!(published.digest, index.digest());

    let reference = format!("oci:{}:1.0", dir.display());
    assert_eq!(
        run("skopeo", &["inspect", "--raw", &reference]),
        index.bytes()
    );
    let arm_inspect = json(&run(
        "skopeo",
        &["--override-arch", "arm64", "inspect", &reference],
    ));
    assert_eq!(arm_inspect["Architecture"], "arm64");
    let blobs = fs_err::read_dir(dir.join("blobs/sha256")).unwrap().count();
    assert_eq!(
        blobs,
        1 + 2 + 2 + 1,
        "one layer, two configs, two manifests, the index"
    );

    let archive = tmp.path().join("one.tar");
    let mut one: Box<dyn Sink> = Box::new(DockerArchiveSink::new(&archive).unwrap());
    let err = one.publish_index(&index, &name).unwrap_err();
    assert!(
        matches!(err, OciError::OnePlatformOnly { count: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--platform"), "{err}");
    drop(one);
    assert!(!archive.exists(), "nothing written");
}
