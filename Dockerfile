# kindling container image.
#
#   podman build --format docker -t kindling .        (or: docker build -t kindling .)
#   podman run -d --name kindling -p 8080:8080 \
#     -v kindling-data:/var/lib/kindling \
#     -v ./admin-token:/run/secrets/kindling-admin-token:ro \
#     -e KINDLING_PUBLIC_URL=http://kindling.example.internal:8080 kindling
#
# Set KINDLING_PUBLIC_URL to the address the nodes reach kindling at: it goes
# into every pointer config and discovery URL (without it kindling warns and
# says 127.0.0.1). The image also runs with --read-only --cap-drop all.
#
# Two stages on debian:bookworm-slim: "build" compiles build/kindling with the
# Makefile's BUILD_DEBS; the runtime stage carries only the shared libraries it
# links against. Configuration is the KINDLING_* environment (every flag has
# one, see `kindling --help`); flags given after the image name override it.
#
# The admin token: the image listens on 0.0.0.0, where kindling refuses to run
# without one, so KINDLING_ADMIN_TOKEN_FILE defaults to
# /run/secrets/kindling-admin-token (where `podman run --secret` and Docker
# Compose / Swarm secrets put it). Without that file the container exits 1 at once:
#   kindling: --admin-token-file /run/secrets/kindling-admin-token: No such file or directory
# The file must be readable by uid 10001 (e.g. mode 0400, owner 10001). To run
# without a token after all, empty the variable and add the flag:
# -e KINDLING_ADMIN_TOKEN_FILE= kindling --insecure-no-auth.
#
# Health check: the runtime image has no curl (it would bring a second libcurl,
# the OpenSSL build); the HEALTHCHECK below is a few lines of bash that GET
# /healthz over bash's /dev/tcp (see there).

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# Keep this list in step with BUILD_DEBS in the Makefile.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
        make gcc pkg-config libc6-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev \
        libcurl4-gnutls-dev libsqlite3-dev nettle-dev libpq-dev libnghttp2-dev \
        libprotobuf-c-dev protobuf-c-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what `make build/kindling` reads (.dockerignore keeps the rest out).
COPY Makefile VERSION ./
COPY tools/ tools/
COPY db/ db/
COPY server/ server/
RUN make -j"$(nproc)" build/kindling \
 && strip --strip-unneeded build/kindling \
 && build/kindling --version

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The runtime libraries of `ldd build/kindling` (their Debian packages), and the
# CA bundle libcurl uses for an https --discovery-upstream (discovery.etcd.io).
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
        libmicrohttpd12 libgnutls30 libjansson4 libcurl3-gnutls libsqlite3-0 libnettle8 libpq5 \
        libnghttp2-14 libprotobuf-c1 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 kindling \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/kindling \
        --no-create-home --shell /usr/sbin/nologin kindling \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/kindling

COPY --from=build /src/build/kindling /usr/bin/kindling
COPY templates/ /usr/share/kindling/templates/
# Fails the build if a shared library is missing from the runtime stage.
RUN ! ldd /usr/bin/kindling | grep 'not found' \
 && /usr/bin/kindling --version

ENV KINDLING_LISTEN=0.0.0.0:8080 \
    KINDLING_DB=/var/lib/kindling/kindling.db \
    KINDLING_TEMPLATES=/usr/share/kindling/templates \
    KINDLING_ADMIN_TOKEN_FILE=/run/secrets/kindling-admin-token

# The SQLite database (with its -wal and -shm files) lives here.
VOLUME ["/var/lib/kindling"]
WORKDIR /var/lib/kindling
USER 10001:10001
EXPOSE 8080
# kindling blocks SIGTERM/SIGINT and sigwait()s for them itself, so it is a
# proper PID 1: SIGTERM drains requests in flight (at most --drain-timeout
# seconds, 10 by default) and exits 0. No init process is needed.
STOPSIGNAL SIGTERM
# The health check GETs /healthz (200 when the database answers) with bash's
# /dev/tcp, at the address kindling listens on: --listen in PID 1's command line,
# else $KINDLING_LISTEN; 0.0.0.0 and [::] are reached through loopback. With
# TLS (--tls-cert / KINDLING_TLS_CERT) bash cannot speak HTTPS: the check is
# then only that the port accepts connections.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD bash -c '\
    l=${KINDLING_LISTEN:-0.0.0.0:8080}; tls=${KINDLING_TLS_CERT:-}; \
    mapfile -d "" a </proc/1/cmdline; \
    for ((i = 1; i < ${#a[@]}; i++)); do case ${a[i]} in \
        --listen) l=${a[i+1]} ;; --listen=*) l=${a[i]#*=} ;; \
        --tls-cert | --tls-cert=*) tls=1 ;; esac; done; \
    h=${l%:*}; p=${l##*:}; h=${h#[}; h=${h%]}; \
    case $h in "" | 0.0.0.0) h=127.0.0.1 ;; ::) h=::1 ;; esac; \
    exec 3<>"/dev/tcp/$h/$p" || exit 1; [ -n "$tls" ] && exit 0; \
    printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3; \
    read -r -t 4 v s _ <&3 && [ "$s" = 200 ]'
ENTRYPOINT ["/usr/bin/kindling"]
