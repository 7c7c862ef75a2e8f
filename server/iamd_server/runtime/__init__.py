"""The process: the `iamd` command line, start-up, workers and their supervisor, metrics.

`cli` is the `iamd` entry point; `app` wires the store, `authn/`, `authz/`, `api/` and the
gateways into a gRPC server (`iamd serve`); `supervisor` and `worker` run several worker
processes (`python -m iamd_server.runtime.cli serve --worker-index I`); `bootstrap` and
`bootstrap_command` create the organization and its root key on first start; `healthcheck` is
the probe run inside containers; `metrics` declares every Prometheus metric and
`metrics_multiprocess` aggregates the workers' metrics. `runtime/` may import anything in
`iamd_server`; nothing imports `runtime/` except `metrics`, a leaf (it imports nothing from
`iamd_server`) that the servicers and gateways record into.
"""
