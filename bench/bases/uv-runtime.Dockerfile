# Stands for python:3.11-slim-bookworm, the uv guide's runtime stage, with the non-root user the
# recipe's `--chown=app:app` needs: Debian's python3, nothing else. Built once by bench/run with
# the legacy builder, not timed.
ARG BASE=bench-bookworm-base:latest
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
