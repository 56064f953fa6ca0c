#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*, from the
repository's real files: the Debian test data (InRelease, Packages, .debs), the test wheels,
the lock fixtures of grocker-project, plus .debs built here by dpkg-deb with each compression
grocker reads, and .pyc files compiled by the Python that runs this script. Run it again when those fixtures change; libFuzzer's own finds are merged into
the same directories by `scripts/fuzz --merge`.

    fuzz/seeds.py
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEBIAN_DATA = os.path.join(REPO, "crates", "grocker-debian", "tests", "data")
WHEELS = os.path.join(REPO, "crates", "grocker-wheel", "tests", "data")
PYPI_WHEELS = os.path.join(REPO, "crates", "grocker-pypi", "tests", "data")
LOCKS = os.path.join(REPO, "crates", "grocker-project", "tests", "fixtures")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + name), "wb") as f:
        f.write(data)


def sections(files):
    """The `=== NAME` section format of the structured targets (grocker_fuzz::sections)."""
    out = b""
    for name, data in files:
        out += b"=== " + name.encode() + b"\n" + data
        if not data.endswith(b"\n"):
            out += b"\n"
    return out


def deb822_seeds():
    packages = read(os.path.join(DEBIAN_DATA, "Packages-snippet")).split(b"\n\n")
    # A few whole paragraphs: the whole snippet would make every input 33 KB long.
    write("deb822", "Packages", b"\n\n".join(packages[:6]) + b"\n")
    write("deb822", "Packages-one", packages[0] + b"\n")
    security = read(os.path.join(DEBIAN_DATA, "bookworm-security-InRelease"))
    write("deb822", "bookworm-security-InRelease", security)
    # The signed part of an InRelease is the Release file; keep its head and a few SHA256 lines.
    text = security.decode()
    body = text.split("\n\n", 1)[1].split("-----BEGIN PGP SIGNATURE-----")[0]
    head, sha = body.split("SHA256:\n", 1)
    write("deb822", "Release", (head + "SHA256:\n" + "".join(sha.splitlines(True)[:8])).encode())
    # A short InRelease: the same armor around a few lines (the signature no longer verifies,
    # which is what the parser must then say).
    signature = "-----BEGIN PGP SIGNATURE-----" + text.split("-----BEGIN PGP SIGNATURE-----")[1]
    short = text.split("\n\n", 1)[0] + "\n\n" + head + "SHA256:\n" + "".join(sha.splitlines(True)[:3]) + signature
    write("deb822", "InRelease-short", short.encode())


def build_debs(tmp):
    """Small .debs with a file, a directory, a symlink, a hard link, a conffile and a doc, one per
    compression dpkg-deb writes."""
    root = os.path.join(tmp, "pkg")
    os.makedirs(os.path.join(root, "DEBIAN"))
    os.makedirs(os.path.join(root, "usr", "bin"))
    os.makedirs(os.path.join(root, "etc"))
    os.makedirs(os.path.join(root, "usr", "share", "doc", "fuzz"))
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write("Package: fuzz\nVersion: 1:1.0-1\nArchitecture: all\nMaintainer: x <x@example.invalid>\n"
                "Depends: libc6 (>= 2.36), python3:any | python3.11\nDescription: fuzz seed\n long\n")
    with open(os.path.join(root, "DEBIAN", "conffiles"), "w") as f:
        f.write("/etc/fuzz.conf\n")
    with open(os.path.join(root, "DEBIAN", "md5sums"), "w") as f:
        f.write("d41d8cd98f00b204e9800998ecf8427e  usr/bin/fuzz\n")
    with open(os.path.join(root, "etc", "fuzz.conf"), "w") as f:
        f.write("a = 1\n")
    with open(os.path.join(root, "usr", "bin", "fuzz"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(root, "usr", "bin", "fuzz"), 0o755)
    os.link(os.path.join(root, "usr", "bin", "fuzz"), os.path.join(root, "usr", "bin", "fuzz2"))
    os.symlink("fuzz", os.path.join(root, "usr", "bin", "fuzz3"))
    with open(os.path.join(root, "usr", "share", "doc", "fuzz", "copyright"), "w") as f:
        f.write("MIT\n")
    debs = {}
    for compression in ("none", "gzip", "xz", "zstd"):
        out = os.path.join(tmp, f"fuzz-{compression}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", root, out],
                       check=True, capture_output=True)
        debs[compression] = read(out)
    return debs


def ar_members(deb):
    """(name, data) of the members of an ar archive."""
    at, out = 8, []
    while at + 60 <= len(deb):
        name = deb[at:at + 16].decode().strip().rstrip("/")
        size = int(deb[at + 48:at + 58].decode().strip())
        out.append((name, deb[at + 60:at + 60 + size]))
        at += 60 + size + (size % 2)
    return out


def deb_seeds(tmp):
    debs = build_debs(tmp)
    for compression, data in debs.items():
        write("deb", f"dpkg-deb-{compression}", data)
    write("deb", "netbase", read(os.path.join(DEBIAN_DATA, "netbase_6.4_all.deb")))
    data_tar = dict(ar_members(debs["none"]))["data.tar"]
    write("deb_data", "dpkg-deb", data_tar)
    netbase = dict(ar_members(read(os.path.join(DEBIAN_DATA, "netbase_6.4_all.deb"))))
    for name, data in netbase.items():
        if name.startswith("data.tar.xz"):
            import lzma
            write("deb_data", "netbase", lzma.decompress(data))
    # A tar with the entry kinds grocker refuses or rewrites: long names, a device, a link out.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, link in [("./bin/", tarfile.DIRTYPE, ""), ("./bin/sh", tarfile.SYMTYPE, "dash"),
                                 ("./usr/lib/" + "x" * 120, tarfile.REGTYPE, ""),
                                 ("./usr/lib/l", tarfile.LNKTYPE, "./usr/lib/" + "x" * 120),
                                 ("./dev/null", tarfile.CHRTYPE, "")]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o4755
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    write("deb_data", "kinds", buf.getvalue())


def wheel_files(path):
    """The files of a wheel in archive order, RECORD hashes replaced by the placeholder the
    `wheel_files` target fills in."""
    out = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            data = z.read(info)
            name = info.filename
            if name.endswith(".dist-info/RECORD"):
                lines = []
                for line in data.decode().splitlines():
                    parts = line.split(",")
                    if len(parts) == 3 and parts[1]:
                        parts[1] = "sha256=?"
                    lines.append(",".join(parts))
                data = ("\n".join(lines) + "\n").encode()
            if (info.external_attr >> 16) & 0o111:
                name = "+x " + name
            out.append((name, data))
    return out


def synthetic_wheel():
    """A wheel with what six lacks: entry points, .data scripts, headers and data, a package."""
    files = [
        ("demo/__init__.py", b"VERSION = '1.0'\n"),
        ("+x demo-1.0.data/scripts/demo-tool", b"#!python\nimport demo\n"),
        ("demo-1.0.data/headers/demo.h", b"int demo(void);\n"),
        ("demo-1.0.data/data/share/demo/x.txt", b"x\n"),
        ("demo-1.0.data/purelib/demo_extra.py", b"\n"),
        ("demo-1.0.dist-info/METADATA",
         b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.8\n"
         b"Requires-Dist: six (>=1.0)\nRequires-Dist: idna; extra == \"x\"\nProvides-Extra: x\n\nbody\n"),
        ("demo-1.0.dist-info/WHEEL",
         b"Wheel-Version: 1.0\nGenerator: fuzz\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        ("demo-1.0.dist-info/entry_points.txt",
         b"[console_scripts]\ndemo = demo:main\ndemo-x = demo.cli:run [x]\n\n[gui_scripts]\ndemo-gui = demo.gui:main\n"),
    ]
    record = "".join(f"{name.removeprefix('+x ')},sha256=?,\n" for name, _ in files)
    record += "demo-1.0.dist-info/RECORD,,\n"
    files.append(("demo-1.0.dist-info/RECORD", record.encode()))
    return files


def zip_of(files, compression, zip64=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in files:
            executable = name.startswith("+x ")
            name = name.removeprefix("+x ")
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = compression
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(data)
    return buf.getvalue()


def record_filled(files):
    """`files` with the RECORD placeholders replaced by real hashes (for the raw-zip targets)."""
    import base64
    import hashlib
    by_name = {name.removeprefix("+x "): data for name, data in files}
    out = []
    for name, data in files:
        if name.endswith(".dist-info/RECORD"):
            lines = []
            for line in data.decode().splitlines():
                parts = line.split(",")
                if len(parts) == 3 and parts[1] == "sha256=?":
                    content = by_name[parts[0]]
                    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
                    parts[1], parts[2] = "sha256=" + digest.decode(), str(len(content))
                lines.append(",".join(parts))
            data = ("\n".join(lines) + "\n").encode()
        out.append((name, data))
    return out


def wheel_seeds():
    six = os.path.join(WHEELS, "six-1.16.0-py2.py3-none-any.whl")
    write("wheel", "six", read(six))
    write("wheel_metadata", "six", read(six))
    six_files = wheel_files(six)
    demo = synthetic_wheel()
    write("wheel_files", "six", sections(six_files))
    write("wheel_files", "demo", sections(demo))
    write("wheel", "six-stored", zip_of(record_filled(six_files), zipfile.ZIP_STORED))
    write("wheel", "demo-stored", zip_of(record_filled(demo), zipfile.ZIP_STORED))
    write("wheel", "demo-deflated", zip_of(record_filled(demo), zipfile.ZIP_DEFLATED))
    write("wheel_metadata", "demo-stored", zip_of(demo, zipfile.ZIP_STORED))
    write("wheel_metadata", "demo-zip64", zip_of(demo, zipfile.ZIP_DEFLATED, zip64=True))
    write("wheel_metadata", "METADATA-only",
          read(os.path.join(PYPI_WHEELS, "six-1.16.0-py2.py3-none-any.whl.METADATA")))


def lock_seeds():
    for fixture in sorted(os.listdir(LOCKS)):
        directory = os.path.join(LOCKS, fixture)
        if not os.path.isdir(directory):
            continue
        files = []
        for parent, dirs, names in os.walk(directory):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(parent, name)
                files.append((os.path.relpath(path, directory), read(path)))
        write("project_lock", fixture, sections(files))
    # A hand-written requirements file with the options grocker reads, and an include.
    write("project_lock", "requirements-options", sections([
        ("requirements.txt",
         b"--index-url https://pypi.example/simple\n--extra-index-url https://x.example/simple\n"
         b"-r base.txt\n-c constraints.txt\nsix==1.16.0 \\\n    --hash=sha256:"
         + b"8" * 64 + b"\nidna==3.10 ; python_version >= \"3.8\"\n"),
        ("base.txt", b"packaging==24.2\n"),
        ("constraints.txt", b"six<2\n"),
    ]))


def grocker_lock_seeds():
    write("grocker_lock", "sample", b"""# This file is written by grocker. Do not edit it by hand:
# `grocker lock --upgrade` (or `grocker root --upgrade`) refreshes it.
version = 1

[request]
runtime = "bookworm/3.11"
architecture = "amd64"
packages = ["libpq5"]
application = "httpie[socks]==3.2.4"
constraints = ["requests<3"]
indexes = ["https://pypi.org/simple"]
project_lock = "uv.lock sha256:00"
selection = ["group=prod"]

[[debian]]
name = "libc6"
version = "2.36-9+deb12u9"
architecture = "amd64"
archive = "debian"
path = "pool/main/g/glibc/libc6_2.36-9+deb12u9_amd64.deb"
size = 2757936
sha256 = "ab35e6ac8e81c8e2fd6b1b7e1e2c3c5d2f7e1c1f6f1f2a4f8c8e0a5e2f1c9d0a"

[[python]]
name = "requests"
version = "2.32.3"
extras = ["socks"]
filename = "requests-2.32.3-py3-none-any.whl"
url = "https://files.pythonhosted.org/x/requests-2.32.3-py3-none-any.whl"
size = 64928
sha256 = "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6"

[[builder]]
name = "gcc"
version = "4:12.2.0-3"
architecture = "amd64"
archive = "debian"
path = "pool/main/g/gcc-defaults/gcc_12.2.0-3_amd64.deb"
size = 5200
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
""")


def registry_seeds():
    for name, data in [
        ("token", b'{"token":"abc.def","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}'),
        ("access-token", b'{"access_token":"xyz","token":""}'),
        ("bearer", b'Bearer realm="https://auth.example/token",service="registry.example",'
                   b'scope="repository:team/app:pull,push"'),
        ("basic", b'Basic realm="Registry Realm"'),
        ("errors", b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match",'
                   b'"detail":{"digest":"sha256:00"}},{"code":"UNAUTHORIZED"}]}'),
        ("html", b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n</html>\n"),
    ]:
        write("registry", name, data)


PYC_SOURCE = """
# A module with a constant of every kind marshal writes.
import sys
NUMBERS = (0, -1, 2**40, -2**100, 1.5, -0.0, 2j, 1e308 * 10)
TEXT = ("", "{", "\\u00e9t\\u00e9", "\\u20ac", "a" * 300, b"bytes", b"")
SETS = frozenset({"a", "b"}), frozenset()
def f(a, /, b=NUMBERS, *args, c=..., **kw):
    x = [a, b, c]
    def g():
        return x, TEXT, SETS, sys
    try:
        return g() if a else None
    except (ValueError, TypeError):
        raise
class C:
    def m(self):
        return f"{self!r:>10}" + super().__repr__()
"""


def pyc_seeds(tmp):
    import importlib.util
    import marshal
    import py_compile

    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    source = os.path.join(tmp, "kinds.py")
    with open(source, "w") as f:
        f.write(PYC_SOURCE)
    out = os.path.join(tmp, "kinds.pyc")
    # `dfile`: no temporary path in the seed, which stays the same from run to run.
    py_compile.compile(source, cfile=out, dfile="kinds.py", invalidation_mode=mode, doraise=True)
    write("pyc", "kinds", read(out))
    # A module of the standard library, small enough for a seed.
    import colorsys

    py_compile.compile(
        colorsys.__file__, cfile=out, dfile="colorsys.py", invalidation_mode=mode, doraise=True
    )
    write("pyc", "colorsys", read(out))
    # Marshal data that is not a code object: dicts, lists, sets, shared objects.
    shared = ("shared", 10**20)
    value = {"list": [shared, shared, {1, 2}], "dict": {"k": shared}, "none": None, "t": True}
    header = importlib.util.MAGIC_NUMBER + b"\x01\x00\x00\x00" + b"\x00" * 8
    write("pyc", "dict", header + marshal.dumps(value))


def main():
    if shutil.which("dpkg-deb") is None:
        sys.exit("fuzz/seeds.py: dpkg-deb is needed to build the .deb seeds (scripts/setup installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        deb822_seeds()
        deb_seeds(tmp)
        wheel_seeds()
        lock_seeds()
        grocker_lock_seeds()
        registry_seeds()
        pyc_seeds(tmp)


if __name__ == "__main__":
    main()
