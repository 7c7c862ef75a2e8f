"""The deployment examples stay in step with the code: every IAMD_* variable they set is one
that `iamd serve` or the SDK reads, ports match, and the Envoy configuration health-checks
iamd over gRPC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _variables_read_by(path: Path) -> set[str]:
    return set(re.findall(r"[\"'](IAMD_[A-Z_]+)[\"']", path.read_text()))


SERVER_VARIABLES = _variables_read_by(ROOT / "server" / "iamd_server" / "cli.py")
CLIENT_VARIABLES = _variables_read_by(ROOT / "client" / "iamd_client" / "credentials.py")


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    return containers


def _env_names(container: dict[str, Any]) -> set[str]:
    return {item["name"] for item in container.get("env", [])}


def _manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def test_the_code_reads_the_variables_this_test_relies_on() -> None:
    assert {"IAMD_DATABASE_URL", "IAMD_LISTEN", "IAMD_MASTER_KEY_FILE"} <= SERVER_VARIABLES
    assert {"IAMD_ENDPOINT", "IAMD_ACCESS_KEY_ID", "IAMD_SECRET_ACCESS_KEY"} <= CLIENT_VARIABLES


def test_kubernetes_manifests_set_only_variables_the_code_reads() -> None:
    deployments = [d for d in _manifests() if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"iamd", "orders"}
    for deployment in deployments:
        for container in _containers(deployment):
            names = {n for n in _env_names(container) if n.startswith("IAMD_")}
            known = {
                "iamd": SERVER_VARIABLES,
                # `iamd sidecar` signs to its upstream with the SDK's credentials chain.
                "iamd-sidecar": SERVER_VARIABLES | CLIENT_VARIABLES,
            }.get(container["name"], CLIENT_VARIABLES)
            assert names <= known, (deployment["metadata"]["name"], names - known)
            if container["name"] == "iamd":
                assert "IAMD_DATABASE_URL" in names
                assert container["readinessProbe"]["grpc"]["port"] == 50051


def _sidecar_pod() -> dict[str, Any]:
    deployment = next(d for d in _manifests() if d["metadata"]["name"] == "orders")
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def test_the_sidecar_talks_to_iamd_on_localhost() -> None:
    containers = {c["name"]: c for c in _sidecar_pod()["containers"]}
    app_env = {e["name"]: e.get("value") for e in containers["orders"]["env"]}
    iamd_env = {e["name"]: e.get("value") for e in containers["iamd-sidecar"]["env"]}
    assert app_env["IAMD_ENDPOINT"] == iamd_env["IAMD_LISTEN"] == "127.0.0.1:50051"


def test_the_sidecar_has_no_database_and_no_master_key() -> None:
    pod = _sidecar_pod()
    sidecar = next(c for c in pod["containers"] if c["name"] == "iamd-sidecar")
    assert sidecar["command"][:2] == ["iamd", "sidecar"]
    names = _env_names(sidecar)
    assert {"IAMD_UPSTREAM", "IAMD_ACCESS_KEY_ID", "IAMD_SECRET_ACCESS_KEY"} <= names
    assert not names & {"IAMD_DATABASE_URL", "IAMD_MASTER_KEY_FILE", "IAMD_DATA_DIR"}
    text = yaml.safe_dump(pod)
    assert "master" not in text and "iamd-database" not in text
    # Health is asked on localhost (the kubelet's own probes reach only the pod's IP).
    assert "127.0.0.1:50051" in " ".join(sidecar["readinessProbe"]["exec"]["command"])


def test_image_defaults_match_the_manifests() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"IAMD_[A-Z_]+", dockerfile)
    assert set(re.findall(r"(IAMD_[A-Z_]+)=", dockerfile)) <= SERVER_VARIABLES
    assert "EXPOSE 50051 9090" in dockerfile
    central = next(d for d in _manifests() if d["metadata"]["name"] == "iamd")
    ports = {p["containerPort"] for p in _containers(central)[0]["ports"]}
    assert ports == {50051, 9090}


def test_envoy_balances_grpc_with_health_checks() -> None:
    config = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    cluster = config["static_resources"]["clusters"][0]
    assert cluster["name"] == "iamd"
    assert "grpc_health_check" in cluster["health_checks"][0]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["port_value"] == 50051
    listener = config["static_resources"]["listeners"][0]
    routes = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    prefixes = [r["match"]["prefix"] for r in routes["virtual_hosts"][0]["routes"]]
    assert "/iamd.v1.AuthorizationService/" in prefixes
    # Sidecars' Watch streams are not cut by a route timeout.
    watch = next(
        r for r in routes["virtual_hosts"][0]["routes"]
        if r["match"]["prefix"] == "/iamd.v1.ReplicationService/"
    )  # fmt: skip
    assert watch["route"]["timeout"] == "0s"
    assert prefixes.index("/iamd.v1.ReplicationService/") < prefixes.index("/")
