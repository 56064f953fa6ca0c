"""grocker's PEP 517 build driver.

Runs inside the builder container with the builder's own Python, offline, using the standard
library only (pip is called as a program, never imported):

    python3 -c SCRIPT requires SRC WHEELHOUSE
    python3 -c SCRIPT build SRC WHEELHOUSE OUTDIR

SRC (the unpacked sdist or the project, mounted read-only) is copied to a writable directory
first, because backends write egg-info and build directories next to the sources. Build
requirements are installed from WHEELHOUSE (read-only, wheels only, no index) into a fresh venv
without system site-packages, the way pypa/build isolates a build: nothing from the builder's
own dist-packages leaks in, and subprocesses that run `sys.executable` see the same packages.
The hooks run in that venv's Python, in a child process (this file again, mode `_hook`).

The answer is the last line printed that starts with RESULT, as JSON.
"""

import json
import os
import shutil
import subprocess
import sys

RESULT = "grocker-driver-result: "
WORK = "/tmp/grocker"

# PEP 517: "If the pyproject.toml file is absent, or the build-backend key is missing, the source
# tree is not using this specification, and tools should revert to the legacy behaviour of
# running setup.py (either directly, or by implicitly invoking the
# setuptools.build_meta:__legacy__ backend)." PEP 518's default requirements, as pip uses them.
LEGACY_REQUIRES = ["setuptools>=40.8.0"]
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


class Failure(Exception):
    """An error the user can act on: printed without a traceback."""


def say(message):
    print("grocker-driver: " + message, file=sys.stderr, flush=True)


def read_build_system(src):
    path = os.path.join(src, "pyproject.toml")
    if not os.path.exists(path):
        say("no pyproject.toml: using the legacy setuptools backend")
        return LEGACY_REQUIRES, LEGACY_BACKEND, []
    try:
        import tomllib
    except ImportError:
        raise Failure("reading pyproject.toml needs Python 3.11 or newer (tomllib)")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise Failure("cannot read pyproject.toml: %s" % e)
    build_system = data.get("build-system")
    if build_system is None:
        say("pyproject.toml has no [build-system]: using the legacy setuptools backend")
        return LEGACY_REQUIRES, LEGACY_BACKEND, []
    # PEP 518: "If the table is specified but is missing required fields then the tool should
    # consider it an error."
    requires = build_system.get("requires")
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise Failure("pyproject.toml: [build-system] requires must be a list of strings")
    backend = build_system.get("build-backend", LEGACY_BACKEND)
    if not isinstance(backend, str):
        raise Failure("pyproject.toml: [build-system] build-backend must be a string")
    backend_path = build_system.get("backend-path", [])
    if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
        raise Failure("pyproject.toml: [build-system] backend-path must be a list of strings")
    return requires, backend, backend_path


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


def make_env():
    env = os.path.join(WORK, "env")
    run([sys.executable, "-m", "venv", "--without-pip", env], "create the build venv")
    return env


def install(env, requires, wheelhouse):
    if not requires:
        return
    say("installing build requirements: " + ", ".join(requires))
    run(
        [
            sys.executable, "-m", "pip",
            "--python", os.path.join(env, "bin", "python"),
            "install", "--no-index", "--find-links", wheelhouse,
            "--only-binary", ":all:", "--no-cache-dir", "--disable-pip-version-check",
            "--no-warn-script-location", "--progress-bar", "off",
            # Byte-compiling every installed file costs seconds; imports compile what they use
            # (into PYTHONPYCACHEPREFIX, set by grocker).
            "--no-compile",
            "--",
        ] + requires,
        "install the build requirements from the wheelhouse",
    )


def run(argv, what, **kwargs):
    sys.stdout.flush()
    code = subprocess.call(argv, **kwargs)
    if code != 0:
        raise Failure("failed to %s (exit code %d)" % (what, code))


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


def call_hook(env, src, backend, backend_path, hook, kwargs):
    result = os.path.join(WORK, "hook-result.json")
    if os.path.exists(result):
        os.unlink(result)
    paths = [os.path.join(src, p) for p in backend_path]
    child_env = dict(os.environ)
    child_env["PATH"] = os.path.join(env, "bin") + os.pathsep + child_env.get("PATH", "")
    child_env["VIRTUAL_ENV"] = env
    child_env.pop("PYTHONPATH", None)
    argv = [os.path.join(env, "bin", "python"), driver_file(), "_hook", hook, backend,
            json.dumps(paths), result, json.dumps(kwargs)]
    run(argv, "run the backend's %s hook (%s)" % (hook, backend), cwd=src, env=child_env)
    with open(result, encoding="utf-8") as f:
        return json.load(f)


def dynamic_requires(env, src, backend, backend_path):
    answer = call_hook(env, src, backend, backend_path, "get_requires_for_build_wheel", {})
    if answer.get("missing"):
        return []
    value = answer.get("value")
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise Failure("get_requires_for_build_wheel returned %r, not a list of strings" % value)
    return value


def cmd_requires(src, wheelhouse):
    static, backend, backend_path = read_build_system(src)
    src = copy_source(src)
    env = make_env()
    install(env, static, wheelhouse)
    dynamic = dynamic_requires(env, src, backend, backend_path)
    return {"static": static, "dynamic": dynamic, "backend": backend}


def cmd_build(src, wheelhouse, outdir):
    static, backend, backend_path = read_build_system(src)
    src = copy_source(src)
    env = make_env()
    install(env, static, wheelhouse)
    dynamic = dynamic_requires(env, src, backend, backend_path)
    install(env, dynamic, wheelhouse)
    dist = os.path.join(WORK, "dist")
    os.mkdir(dist)
    say("building the wheel with " + backend)
    answer = call_hook(env, src, backend, backend_path, "build_wheel", {"wheel_directory": dist})
    if answer.get("missing"):
        raise Failure("the backend %s has no build_wheel hook" % backend)
    name = answer.get("value")
    if not isinstance(name, str) or os.path.basename(name) != name or not name.endswith(".whl"):
        raise Failure("build_wheel returned %r, not a wheel file name" % (name,))
    built = os.path.join(dist, name)
    if not os.path.isfile(built):
        raise Failure("build_wheel returned %s but did not write it" % name)
    shutil.copyfile(built, os.path.join(outdir, name))
    return {"wheel": name, "static": static, "dynamic": dynamic}


def hook_main(hook, backend_spec, paths_json, result_path, kwargs_json):
    """In the build venv's Python: import the backend and call one hook."""
    # sys.path[0] is this script's directory; PEP 517: the source tree is not importable unless
    # it is listed in backend-path ("the listed directories are prepended to sys.path").
    del sys.path[0]
    backend_path = json.loads(paths_json)
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
    function = getattr(obj, hook, None)
    if function is None:
        answer = {"missing": True}
    else:
        answer = {"value": function(**json.loads(kwargs_json))}
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(answer, f)


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "_hook" and len(args) == 5:
        hook_main(*args)
        return
    if command == "requires" and len(args) == 2:
        os.makedirs(WORK)
        answer = cmd_requires(*args)
    elif command == "build" and len(args) == 3:
        os.makedirs(WORK)
        answer = cmd_build(*args)
    else:
        raise Failure("usage: driver (requires SRC WHEELHOUSE | build SRC WHEELHOUSE OUTDIR)")
    sys.stderr.flush()
    print(RESULT + json.dumps(answer), flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Failure as e:
        say("error: %s" % e)
        sys.exit(1)
