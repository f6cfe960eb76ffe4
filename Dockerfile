# hostloc: a static binary and its bundled data on an empty base image.
#
#   docker build -t hostloc:dev .
#   docker run --rm --read-only -p 8080:8080 hostloc:dev            # hostloc serve
#   docker run --rm --read-only hostloc:dev lookup 95.211.0.1       # any other command
#
# The runtime image holds nothing but /usr/local/bin/hostloc and /usr/share/hostloc/data (the
# bundled databases, their README and licences); it runs as user 10001 and writes nothing, so
# a read-only root file system is fine. Mount current databases over /usr/share/hostloc/data, or
# point HOSTLOC_DATA_DIR / HOSTLOC_COUNTRY_DB / HOSTLOC_ASN_DB elsewhere (docs/deploy.md).
#
# BINARY_FROM names the stage (or image) holding /out: the default builds it here; .ci/container
# passes an image made from a binary built on the host, so that CI needs no registry.
ARG BINARY_FROM=build

# Rust 1.88 is hostloc's minimum; the glibc static target needs no musl toolchain.
FROM docker.io/library/rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
COPY data ./data
# crt-static links glibc into the binary, so it runs on an empty image; hostloc resolves its
# DNS itself and needs nothing from NSS but "files" and "dns", which glibc has built in.
# Debug info stripped: 18.6 MB instead of 83 MB (docs/deploy.md); symbols stay for backtraces.
ENV RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN cargo build --release --locked --target x86_64-unknown-linux-gnu --bin hostloc \
 && mkdir -p /out/usr/local/bin /out/usr/share/hostloc/data \
 && cp target/x86_64-unknown-linux-gnu/release/hostloc /out/usr/local/bin/hostloc \
 && cp data/dbip-country.mmdb data/geo-whois-asn-country.mmdb data/asn.mmdb data/networks.csv data/hotlines.csv data/anycast.csv \
       data/README.md data/NETWORKS.md data/HOTLINES.md /out/usr/share/hostloc/data/

FROM ${BINARY_FROM} AS binary

FROM scratch
COPY --from=binary /out/ /
ENV HOSTLOC_DATA_DIR=/usr/share/hostloc/data \
    HOSTLOC_SEED_FROM=/usr/share/hostloc/data \
    HOSTLOC_LISTEN=0.0.0.0:8080 \
    HOSTLOC_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
# No curl in the image: hostloc asks its own /healthz (on loopback, at HOSTLOC_LISTEN's port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/hostloc", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/hostloc"]
CMD ["serve"]
