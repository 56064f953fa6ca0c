# bench/peers.sh — sourced by bench/run: the uv-locked projects against the uv Docker guide's
# recipe on BuildKit, and Grocker 8.3 on its test project (see bench/run's header). Uses bench/run's
# helpers and variables (measure, timed, run_case, BASE_IMAGE, base_key, WORK, CACHE, GROCKER…).

UV_VERSION=0.13.9 # the uv that made bench/uv-*/uv.lock (scripts/pytools pins the same)
UV_WHEEL=uv-$UV_VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
UV_WHEEL_SHA256=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19
UV_BUILDER=bench-uv-builder:latest
UV_RUNTIME=bench-uv-runtime:latest
GR_RUNTIME=bench-grocker-runtime:bookworm-3.11 # grocker root's image, loaded like the peer's base
UV_CACHE_MOUNT="cached mount /root/.cache/grocker-bench-uv " # the recipe's, as BuildKit describes it
RUN_LABEL=grocker-bench.run=$$-$RANDOM
G8_VERSION=8.3
G8_PYTHON=bench-python:3.11-slim-bookworm
G8_WHEEL_SERVER=grocker-wheel-server:$G8_VERSION
G8_SPEC=grocker-test-project==3.0.1

# A base image made once from the mmdebstrap base with the legacy builder (not timed): rebuilt
# only when the base or its Dockerfile changed. base_image TAG DOCKERFILE CONTEXT [docker args]
base_image() {
  local tag=$1 file=$2 ctx=$3 key
  shift 3
  key=$({
    echo "$base_key"
    cat "$file"
    find "$ctx" -type f -print0 | sort -z | xargs -0 -r sha256sum | cut -c1-64
  } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect --format '{{index .Config.Labels "bench.base"}}' "$tag" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  say "building $tag (a base, not measured)"
  docker build --label "bench.base=$key" --build-arg "BASE=$BASE_IMAGE" "$@" -t "$tag" -f "$file" "$ctx" \
    >>"$LOGS/bases.log" 2>&1 || die "building $tag failed; see $LOGS/bases.log"
}

# --- uv + BuildKit ------------------------------------------------------------------------------
prepare_uv() {
  local wheel=$CACHE/$UV_WHEEL ctx=$WORK/uv-builder-ctx
  if ! echo "$UV_WHEEL_SHA256  $wheel" | sha256sum -c --status 2>/dev/null; then
    say "downloading uv $UV_VERSION's wheel"
    python3 -m pip download -q --no-deps --only-binary :all: --platform manylinux2014_x86_64 \
      -d "$CACHE" "uv==$UV_VERSION" >>"$LOGS/bases.log" 2>&1 || die "cannot download uv $UV_VERSION; see $LOGS/bases.log"
    echo "$UV_WHEEL_SHA256  $wheel" | sha256sum -c --status || die "$UV_WHEEL: SHA-256 mismatch"
  fi
  mkdir -p "$ctx"
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read(f"uv-{sys.argv[3]}.data/scripts/uv"))' \
    "$wheel" "$ctx/uv" "$UV_VERSION"
  chmod 755 "$ctx/uv"
  base_image "$UV_BUILDER" "$BENCH/bases/uv-builder.Dockerfile" "$ctx"
  mkdir -p "$WORK/empty-ctx"
  base_image "$UV_RUNTIME" "$BENCH/bases/uv-runtime.Dockerfile" "$WORK/empty-ctx"
  # grocker's runtime, present as `grocker root` leaves it (index, .debs, os layer), not timed,
  # and loaded into the engine, as the peer's runtime base is there: grocker's cache then
  # remembers that the engine has the os layer, and its loads leave it out.
  UV_SEED=$WORK/runtime-seed
  say "grocker root: the runtime grocker's uv cases start from (not measured)"
  IMAGES+=("$GR_RUNTIME")
  (cd "$WORK" && GROCKER_CACHE_DIR=$UV_SEED "$GROCKER" root -r bookworm/3.11 -o docker -n "$GR_RUNTIME" \
    --lock-file "$WORK/root.lock") >>"$LOGS/bases.log" 2>&1 || die "grocker root failed; see $LOGS/bases.log"
  # The builder's standard library bytecode, as any earlier project build leaves it (a base, like
  # the .pyc files Debian's python3 brings into the peer's builder): a project with a backend
  # (flit-core) that neither uv case uses, so no build requirement of theirs is cached.
  rm -rf "$WORK/flit-seed" && cp -r "$BENCH/bases/flit-seed" "$WORK/flit-seed"
  (cd "$WORK/flit-seed" && GROCKER_CACHE_DIR=$UV_SEED "$GROCKER" build . -e python \
    -o "oci:$WORK/seed-oci") >>"$LOGS/bases.log" 2>&1 || die "the seed build failed; see $LOGS/bases.log"
  rm -rf "$WORK/seed-oci" "$WORK/flit-seed"
}

# BuildKit's cache mounts of the recipe (their target is /root/.cache/grocker-bench-uv), by record ID: the daemon is
# shared, and `docker builder prune` without an ID filter would empty everyone's.
uv_cache_records() {
  curl -sf --unix-socket /var/run/docker.sock http://localhost/v1.41/system/df |
    python3 -c '
import json, sys
for b in json.load(sys.stdin).get("BuildCache") or []:
    if b.get("Type") == "exec.cachemount" and sys.argv[1] in (b.get("Description") or ""):
        print(b["ID"])' "$UV_CACHE_MOUNT"
}
uv_cache_empty() {
  local id
  for id in $(uv_cache_records); do
    DOCKER_BUILDKIT=1 /usr/bin/docker builder prune -a -f --filter "id=$id" >/dev/null
  done
  [ -z "$(uv_cache_records)" ] || die "the uv cache mount could not be emptied"
}
uv_cold_prep() {
  uv_cache_empty
  docker rmi "$(df_tag main)" >/dev/null 2>&1 || true
}

# The project is copied, since edits happen there; both sides build the same copy.
uv_case() { # CASE TITLE ENTRY EDIT_FILE
  PEER=uv PEER_NAME="uv + BuildKit" DF_COLD_PREP=uv_cold_prep GR_SEED=$UV_SEED
  CASE=$1 TITLE=$2 ENTRY=$3 EDIT_FILE=$4 GR_APP=$3 # the project's name is its script's
  CTX=$WORK/$CASE DF_DIR=$CTX
  rm -rf "$CTX" && cp -r "$BENCH/$CASE" "$CTX"
  VER= VER1= SPEC=$CTX SPEC1= EDIT=edit_project PUSH1="the project" PUSH2="after one edit"
  NA_NOTE="grocker cannot build this project"
  NOTE="Both sides build the same copy of bench/$CASE with its committed uv.lock, bases present (see the header). The recipe (bench/$CASE/Dockerfile) is the uv guide's, UV_COMPILE_BYTECODE=1 included, so its venv carries .pyc files; grocker's image has none (\`--compile-bytecode\` adds them). Peak memory of the peer is its docker client's: uv and the layer export run in the shared dockerd (BuildKit), whose memory cannot be told apart from other users'."
}
case_uv_service() {
  uv_case uv-service "uv-service: FastAPI + uvicorn[standard] + httpx, uv-locked (24 packages; one edit)" \
    svc src/svc/__init__.py
}
case_uv_numeric() {
  uv_case uv-numeric "uv-numeric: numpy + pandas, uv-locked (heavy native wheels; one edit)" \
    numeric src/numeric/__init__.py
}

# --- Grocker 8.3 ---------------------------------------------------------------------------------
G8=
prepare_grocker8() {
  local venv=$CACHE/grocker8-venv ctx=$WORK/g8-wheel-server
  if [ "$("$venv/bin/grocker" --version 2>/dev/null | grep -o '[0-9.]*$')" != "$G8_VERSION" ]; then
    say "installing grocker==$G8_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "grocker==$G8_VERSION" >>"$LOGS/bases.log" 2>&1 ||
      die "cannot install grocker==$G8_VERSION; see $LOGS/bases.log"
  fi
  G8=$venv/bin/grocker
  base_image "$G8_PYTHON" "$BENCH/bases/grocker8-python.Dockerfile" "$WORK/empty-ctx"
  # Grocker looks its wheel server up by this name before building one FROM nginx:alpine.
  mkdir -p "$ctx" "$WORK/empty-ctx"
  cp "$("$venv/bin/python" -c 'import grocker, os; print(os.path.dirname(grocker.__file__))')/resources/docker/wheel-server/nginx.conf" "$ctx/"
  base_image "$G8_WHEEL_SERVER" "$BENCH/bases/grocker8-wheel-server.Dockerfile" "$ctx" \
    --label "grocker.version=$G8_VERSION" --label grocker.image.role=wheel-server
}

# The names Grocker 8.3 gives its root and compiler images and its wheel volume for this config.
g8_names() {
  (cd "$G8_DIR" && "$(dirname "$G8")/python" -c '
from grocker import utils
from grocker.builders import naming
c = utils.parse_config([])
print(naming.image_name(c, "root"), naming.image_name(c, "compiler"), naming.wheel_volume_name(c))')
}
g8_build() { (cd "$G8_DIR" && timed "$G8" build "$G8_SPEC" -n bench-grocker8-gtp:3.0.1 --no-push); }
g8_empty_volume() {
  docker rmi bench-grocker8-gtp:3.0.1 >/dev/null 2>&1 || true
  docker volume rm "$G8_VOLUME" >/dev/null 2>&1 || true
}
g8_fully_cold() {
  g8_empty_volume
  docker rmi "$G8_COMPILER" "$G8_ROOT" >/dev/null 2>&1 || true
}

run_grocker8() {
  CASE=grocker8 LOG=$LOGS/grocker8.log G8_DIR=$WORK/grocker8
  mkdir -p "$G8_DIR" && cp "$BENCH/grocker8/.grocker.yml" "$G8_DIR/"
  read -r G8_ROOT G8_COMPILER G8_VOLUME <<<"$(g8_names)"
  IMAGES+=(bench-grocker8-gtp:3.0.1 "$G8_COMPILER" "$G8_ROOT")
  local ok=1
  measure grocker8.g8.fullcold g8_fully_cold g8_build || ok=0
  if [ "$ok" = 1 ]; then
    measure grocker8.g8.cold g8_empty_volume g8_build || ok=0
  fi
  if [ "$ok" = 1 ]; then
    measure grocker8.g8.noop nothing g8_build || ok=0
    VAL[grocker8.g8.size]=$(image_size bench-grocker8-gtp:3.0.1)
  fi
  docker volume rm "$G8_VOLUME" >/dev/null 2>&1 || true
  echo
  echo "### Grocker $G8_VERSION (the historical anchor) on $G8_SPEC"
  echo
  if [ "$ok" = 0 ]; then
    echo "Grocker $G8_VERSION failed here: \`$(grocker_error)\` (see $LOG)."
    return 0
  fi
  echo "| measure | Grocker $G8_VERSION | grocker | Grocker $G8_VERSION/grocker |"
  echo "|---|---|---|---|"
  echo "| cold, root and compiler images present (an empty wheel volume) | $(secs grocker8.g8.cold) | $(secs grocker-test-project.gr.cold) | $(ratio grocker8.g8.cold grocker-test-project.gr.cold) |"
  echo "| fully cold (root and compiler images built too) | $(secs grocker8.g8.fullcold) | $(secs grocker-test-project.gr.cold) | $(ratio grocker8.g8.fullcold grocker-test-project.gr.cold) |"
  echo "| rebuild, nothing changed (Grocker rebuilds its runner image every time) | $(secs grocker8.g8.noop) | $(secs grocker-test-project.gr.noop) | $(ratio grocker8.g8.noop grocker-test-project.gr.noop) |"
  echo "| image size (uncompressed) | $(size_cell grocker8.g8.size) | $(size_cell grocker-test-project.gr.size) | $(ratio grocker8.g8.size grocker-test-project.gr.size) |"
  echo "| peak memory, cold (max RSS; Grocker: its own process, the builds run in dockerd) | $(mem_cell grocker8.g8.cold) | $(mem_cell grocker-test-project.gr.cold) | |"
  echo
  echo "Grocker $G8_VERSION from PyPI in a venv, with bench/grocker8/.grocker.yml: the runtime bookworm/3.11 on $G8_PYTHON (Debian's python3 + venv, a stand-in for python:3.11-slim-bookworm built from the mmdebstrap base) and its wheel server $G8_WHEEL_SERVER made from Debian's nginx (Grocker's is FROM nginx:alpine); neither can be pulled here. Both are built once, not timed. grocker's column is the grocker-test-project case above (an empty cache: grocker assembles its runtime in its cold figure)."
}
