# corral and corral-agent in one small image. Build:  docker build -t corral .
# Run the server:  docker run -p 9480:9480 -v corral-data:/var/lib/corral corral
# Run an agent:    docker run --entrypoint corral-agent corral run --config=/etc/corral/agent.yml
# The web UI is built in its own stage (npm ci + vite build, as make build does)
# and embedded in corral with -tags embedui.

FROM node:20-bookworm AS ui
WORKDIR /src/ui
# The lock file first, so a source change does not download the packages again.
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=ui /src/ui/dist ./ui/dist
ARG VERSION=docker
# Static binaries: no cgo (modernc SQLite is pure Go), so they run on any base.
RUN CGO_ENABLED=0 go build -tags embedui -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/corral ./cmd/corral-agent ./cmd/corralctl

FROM alpine:3.22
# wget (busybox) for HEALTHCHECK, ca-certificates for agents and stores behind TLS.
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 corral && adduser -S -u 10001 -G corral -h /var/lib/corral corral \
 && mkdir -p /etc/corral /var/lib/corral /var/lib/corral-shared \
 && chown corral:corral /var/lib/corral /var/lib/corral-shared && chmod 0700 /var/lib/corral
# /var/lib/corral-shared: where deploy/compose mounts the volume that the server and
# the simulated agents share (the server's public key, the agents' file_sd file).
COPY --from=build /out/ /usr/local/bin/
COPY configs/corral.example.yml /etc/corral/corral.yml
USER 10001:10001
WORKDIR /var/lib/corral
VOLUME ["/var/lib/corral"]
EXPOSE 9480
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:9480/-/healthy || exit 1
ENTRYPOINT ["/usr/local/bin/corral"]
CMD ["serve", "--config.file=/etc/corral/corral.yml", "--storage.url=sqlite:/var/lib/corral/corral.db"]
