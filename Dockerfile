# omp-server in a container:
#
#   docker build -t omp-server .
#   docker run -d --name omp -v omp-data:/data \
#     -p 31002:31002 -p 1883:1883 -p 8883:8883 -p 127.0.0.1:8080:8080 omp-server
#   docker exec omp omp-server --data-dir /data provision add 0008dc1e3222
#
# The HTTP API listens on 0.0.0.0:8080 inside the container (its default,
# 127.0.0.1, would be unreachable from outside it); publish it on the
# host's loopback as above, or behind a TLS reverse proxy.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p omp-server \
    && install -m 0755 target/release/omp-server /usr/local/bin/omp-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin omp \
    && install -d -m 0700 -o omp -g omp /data
COPY --from=builder /usr/local/bin/omp-server /usr/local/bin/omp-server
USER omp
VOLUME /data
EXPOSE 31002 1883 8883 8080
ENTRYPOINT ["/usr/local/bin/omp-server", "--data-dir", "/data", "--http-listen", "0.0.0.0:8080"]
