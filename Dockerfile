# ovqueue: the worker (the image's entrypoint) and the enqueue CLI, in one small image.
#
#   docker build -t ovqueue .
#   docker run --rm ovqueue --help
#   docker run --rm -i --entrypoint enqueue -e REDIS_URL=redis://redis:6379/0 ovqueue backfill - < rows.jsonl
#
# No credentials are baked in: the worker reads them at start from the environment or from
# files (*_FILE variables, Docker secrets). See docker-compose.yml.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries (no cgo) without local paths in them.
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker \
 && go build -trimpath -ldflags="-s -w" -o /out/enqueue ./cmd/enqueue

# distroless/static: CA certificates (the provider is HTTPS), tzdata, /etc/passwd with the
# user nonroot (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/enqueue /usr/local/bin/
USER nonroot:nonroot
# 8080: the web UI (UI_ADDR=:8080). 9090: /metrics, /healthz, /readyz (METRICS_ADDR=:9090).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/worker"]
