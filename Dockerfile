# vigil's container image: one static binary on an empty base, run as an unprivileged user.
#
#   podman build --format docker -t vigil .      (or: docker build -t vigil .)
#   podman run -d --name vigil --network host -v vigil-recordings:/recordings vigil
#
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it). See
# docs/deploy.md for ports, the media address announced to peers, tokens and volumes.

# The toolchain image. The build stage runs on the build machine's platform and cross-compiles,
# so building for arm64 on amd64 needs no emulation.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM --platform=${BUILDPLATFORM} ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The stamp `vigil version` prints; the build has no git history, so the builder passes it, e.g.
#   --build-arg VERSION=0.2.0 --build-arg COMMIT=$(git rev-parse HEAD)
#   --build-arg DATE=$(git log -1 --format=%cI)
ARG VERSION=""
ARG COMMIT=unknown
ARG DATE=""
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN PLATFORMS="${TARGETOS}/${TARGETARCH}" VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}" \
        sh scripts/release.sh /out \
    && mv /out/vigil-*-"${TARGETOS}-${TARGETARCH}" /out/vigil \
    && mkdir -p /out/recordings /out/tmp && chmod 1777 /out/tmp

FROM scratch
# Root certificates, for S3 offload and webhooks over HTTPS.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/tmp /tmp
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=build --chown=65532:65532 /out/recordings /recordings
USER 65532:65532
WORKDIR /recordings
ENV VIGIL_DIR=/recordings
VOLUME /recordings
# HTTP (WHIP, WHEP, APIs, console, /metrics) and the one UDP port of all WebRTC media.
EXPOSE 8081/tcp 8189/udp
# The image has no shell and no curl: the binary asks its own /healthz (it reads VIGIL_HTTP and
# VIGIL_TLS_CERT, so a changed port or HTTPS needs nothing here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/vigil", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["serve"]
