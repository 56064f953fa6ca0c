"""grocker's PEP 517 build driver.

Runs inside the builder container with the builder's own Python, offline, using the standard
library only:

    python3 -c SCRIPT build SRC ENV OUTDIR SPEC

SRC (the unpacked sdist or the project, mounted read-only) is copied to a writable directory
first, because backends write egg-info and build directories next to the sources. ENV is the
build environment, mounted read-only: a venv without system site-packages in which grocker has
already installed the build requirements (PEP 518's static ones and the dynamic ones SPEC says it
was made for), the way pypa/build isolates a build: nothing from the builder's own dist-packages
leaks in, and subprocesses that run `sys.executable` see the same packages. SPEC is JSON:
{"backend": ..., "backend_path": [...], "dynamic": [...]}, read by grocker from pyproject.toml.

The hooks run in ENV's Python, in a child process (this file again, mode `_hooks`), one after
the other: `get_requires_for_build_wheel`, then, if it asks for exactly the dynamic requirements
ENV has, `build_wheel`. If it asks for others, nothing is built and the answer says which, so that
grocker can make the environment they need and run again.

The answer is the last line printed that starts with RESULT, as JSON: {"wheel": NAME, "dynamic":
[...]} or {"need": [...]}.
"""

import json
import os
import shutil
import subprocess
import sys

RESULT = "grocker-driver-result: "
WORK = "/tmp/grocker"


class Failure(Exception):
    """An error the user can act on: printed without a traceback."""


def say(message):
    print("grocker-driver: " + message, file=sys.stderr, flush=True)


def copy_source(src):
    dst = os.path.join(WORK, "src")
    shutil.copytree(src, dst, symlinks=True)
    # Read-only directories in the source would stop backends from writing next to it.
    for root, dirs, _files in os.walk(dst):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | 0o700)
    os.chmod(dst, 0o755)
    return dst


def run(argv, what, **kwargs):
    sys.stdout.flush()
    code = subprocess.call(argv, **kwargs)
    if code != 0:
        raise Failure("failed to %s (exit code %d)" % (what, code))


def writable_pycache_prefix(read_only):
    """A bytecode prefix for the hooks: the environment's precompiled bytecode (READ_ONLY, mounted
    read-only so that no build can plant bytecode a later one would load) reached through
    symbolic links, and a real directory for what the build writes under /tmp — which a backend
    that byte-compiles explicitly (setuptools' `build_py --compile`) must be able to write."""
    if not read_only or not os.path.isdir(read_only):
        return None
    prefix = os.path.join(WORK, "pycache")
    os.mkdir(prefix)
    for name in os.listdir(read_only):
        if name != "tmp":
            os.symlink(os.path.join(read_only, name), os.path.join(prefix, name))
    return prefix


def driver_file():
    """This script as a file, for the hook child process."""
    if "__file__" in globals():
        return os.path.abspath(__file__)
    argv = sys.orig_argv
    source = argv[argv.index("-c") + 1]
    path = os.path.join(WORK, "driver.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def cmd_build(src, env, outdir, spec_json):
    spec = json.loads(spec_json)
    backend, backend_path, dynamic = spec["backend"], spec["backend_path"], spec["dynamic"]
    src = copy_source(src)
    dist = os.path.join(WORK, "dist")
    os.mkdir(dist)
    result = os.path.join(WORK, "hook-result.json")
    paths = [os.path.join(src, p) for p in backend_path]
    child_env = dict(os.environ)
    child_env["PATH"] = os.path.join(env, "bin") + os.pathsep + child_env.get("PATH", "")
    child_env["VIRTUAL_ENV"] = env
    child_env.pop("PYTHONPATH", None)
    prefix = writable_pycache_prefix(os.environ.get("PYTHONPYCACHEPREFIX"))
    if prefix:
        child_env["PYTHONPYCACHEPREFIX"] = prefix
    argv = [os.path.join(env, "bin", "python"), driver_file(), "_hooks", backend,
            json.dumps(paths), json.dumps(dynamic), dist, result]
    say("building the wheel with " + backend)
    run(argv, "run the backend's hooks (%s)" % backend, cwd=src, env=child_env)
    with open(result, encoding="utf-8") as f:
        answer = json.load(f)
    if "need" in answer:
        return answer
    name = answer["wheel"]
    if not isinstance(name, str) or os.path.basename(name) != name or not name.endswith(".whl"):
        raise Failure("build_wheel returned %r, not a wheel file name" % (name,))
    built = os.path.join(dist, name)
    if not os.path.isfile(built):
        raise Failure("build_wheel returned %s but did not write it" % name)
    shutil.copyfile(built, os.path.join(outdir, name))
    return answer


def load_backend(backend_spec, backend_path):
    # sys.path[0] is this script's directory; PEP 517: the source tree is not importable unless
    # it is listed in backend-path ("the listed directories are prepended to sys.path").
    del sys.path[0]
    sys.path[:0] = backend_path
    import importlib

    module_name, _, object_path = backend_spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise Failure("cannot import the build backend %s: %s" % (backend_spec, e))
    if backend_path:
        # PEP 517: "the backend code MUST be loaded from one of the directories specified in
        # backend-path" when the backend is in-tree.
        origin = os.path.realpath(getattr(obj, "__file__", "") or "")
        roots = [os.path.realpath(p) for p in backend_path]
        if not any(origin.startswith(r + os.sep) for r in roots):
            raise Failure("backend %s was not loaded from its backend-path" % backend_spec)
    for part in filter(None, object_path.split(".")):
        obj = getattr(obj, part)
    return obj


def hooks_main(backend_spec, paths_json, dynamic_json, wheel_directory, result_path):
    """In the build venv's Python: ask for the dynamic requirements, then build if they are met."""
    backend = load_backend(backend_spec, json.loads(paths_json))
    get_requires = getattr(backend, "get_requires_for_build_wheel", None)
    asked = get_requires() if get_requires is not None else []
    if not isinstance(asked, list) or not all(isinstance(r, str) for r in asked):
        raise Failure("get_requires_for_build_wheel returned %r, not a list of strings" % asked)
    if sorted(set(asked)) != sorted(set(json.loads(dynamic_json))):
        answer = {"need": asked}
    else:
        build_wheel = getattr(backend, "build_wheel", None)
        if build_wheel is None:
            raise Failure("the backend %s has no build_wheel hook" % backend_spec)
        answer = {"wheel": build_wheel(wheel_directory), "dynamic": asked}
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(answer, f)


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "_hooks" and len(args) == 5:
        hooks_main(*args)
        return
    if command == "build" and len(args) == 4:
        os.makedirs(WORK)
        answer = cmd_build(*args)
    else:
        raise Failure("usage: driver build SRC ENV OUTDIR SPEC")
    sys.stderr.flush()
    print(RESULT + json.dumps(answer), flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Failure as e:
        say("error: %s" % e)
        sys.exit(1)
