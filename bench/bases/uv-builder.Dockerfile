# Stands for ghcr.io/astral-sh/uv:python3.11-bookworm-slim (the uv guide's builder), which no
# registry here can give: Debian's python3 and uv's own binary, from its PyPI wheel (bench/run
# downloads and checks it, and passes the wheel's directory as the build context). Built once by
# bench/run with the legacy builder, not timed.
ARG BASE=bench-bookworm-base:latest
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY uv /usr/local/bin/uv
# uv trusts its own bundled roots unless told: the system store has the TLS-inspecting proxy's CA.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
