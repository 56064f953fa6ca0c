# Stands for python:3.11-slim-bookworm, the base of Grocker 8's root image for the runtime
# bookworm/3.11 (bench/grocker8/.grocker.yml): Debian's python3 with venv (Grocker's provision
# scripts run `python3 -m venv`). Built once by bench/run with the legacy builder, not timed.
ARG BASE=bench-bookworm-base:latest
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
