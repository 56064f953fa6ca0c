# Grocker 8's wheel server (its resources/docker/wheel-server: `FROM nginx:alpine` + its
# nginx.conf), made from Debian's nginx since nginx:alpine cannot be pulled here. bench/run tags
# it grocker-wheel-server:8.3 with Grocker's labels, the name Grocker looks for before building
# its own, and passes Grocker's nginx.conf in the build context. Built once, not timed.
ARG BASE=bench-bookworm-base:latest
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx.conf /etc/nginx/nginx.conf
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
