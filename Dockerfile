# Builds a static enlace binary (SQLite is pure Go, so no cgo) into a
# distroless image that runs as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/enlace ./cmd/enlace

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/enlace /usr/local/bin/enlace
# The embedded default keeps its SQLite file and generated key here; mount
# a volume, or set DATABASE_URL and ENLACE_SECRET_KEY.
ENV DATABASE_PATH=/data/enlace.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/enlace"]
CMD ["serve"]
