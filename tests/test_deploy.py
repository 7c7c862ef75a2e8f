"""The deployment works as written: every Kubernetes manifest is valid against the Kubernetes
schemas; every Envoy configuration is a valid Envoy bootstrap; the variables, arguments and
ports the manifests give iamd are the ones its CLI reads; probes reach what they probe; and the
README's Kubernetes commands create exactly the secrets and config maps the manifests use."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import kubernetes_validate
import pytest
import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from google.protobuf import json_format
from iamd_client.credentials import CredentialsError, resolve
from iamd_server.authn.master_key import read_key_file
from iamd_server.runtime import cli

from tests.harness import start_server

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# gRPC probes are stable from 1.27 on: the oldest version the manifests are written for.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())
# Stand-ins for values the manifests take from secrets.
SECRET_VALUES = {"IAMD_DATABASE_URL": "postgresql://iamd@db.example/iamd"}

Doc = dict[str, Any]


# ---- what the manifests and the image say -------------------------------------------------


def _manifests() -> list[tuple[str, Doc]]:
    documents: list[tuple[str, Doc]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents.extend((path.name, d) for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


MANIFESTS = _manifests()


def _find(kind: str, name: str) -> Doc:
    return next(d for _, d in MANIFESTS if d["kind"] == kind and d["metadata"]["name"] == name)


def _pod_spec(document: Doc) -> Doc:
    spec: Doc = document["spec"]["template"]["spec"]
    return spec


def _workloads() -> list[Doc]:
    return [d for _, d in MANIFESTS if d["kind"] in ("Deployment", "Job")]


@dataclass(frozen=True)
class Image:
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    user: str


def _dockerfile() -> Image:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    user = ""
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
        elif word == "ENTRYPOINT":
            entrypoint = yaml.safe_load(rest)
        elif word == "CMD":
            cmd = yaml.safe_load(rest)
        elif word == "USER":
            user = rest.strip()
    return Image(env, entrypoint, cmd, user)


IMAGE = _dockerfile()


def _is_iamd(container: Doc) -> bool:
    return str(container["image"]).split(":")[0] == "iamd"


def _argv(container: Doc) -> list[str]:
    """What the container runs, as Kubernetes combines its command and args with the image's
    ENTRYPOINT and CMD."""
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*IMAGE.entrypoint, *container.get("args", IMAGE.cmd)]


def _env(container: Doc) -> dict[str, str]:
    """The container's environment: the image's, overridden by the manifest's."""
    env = dict(IMAGE.env) if _is_iamd(container) else {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            env[item["name"]] = SECRET_VALUES.get(item["name"], "from-a-secret")
    return env


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ holding only ``values`` of iamd's variables (the CLI reads defaults from it
    when its parser is built)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IAMD_")}
    with mock.patch.dict(os.environ, {**clean, **values}, clear=True):
        yield


def _parse(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    assert argv[0] == "iamd", argv
    with _environment(env):
        return cli._build_parser().parse_args(argv[1:])


# `iamd sidecar` signs to its upstream with credentials found as the SDK finds them.
_SDK_CREDENTIALS = ("IAMD_ACCESS_KEY_ID", "IAMD_SECRET_ACCESS_KEY", "IAMD_SESSION_TOKEN")


def _reads(argv: list[str], name: str) -> bool:
    """Whether `iamd argv...` takes a setting from the variable ``name``."""
    if argv[1] == "sidecar" and name in _SDK_CREDENTIALS:
        field = name.removeprefix("IAMD_").lower()
        found = resolve(
            endpoint="127.0.0.1:1",
            environ={
                "IAMD_ACCESS_KEY_ID": "AKIA0000000000000000",
                "IAMD_SECRET_ACCESS_KEY": "secret",
                name: "SENTINEL",
            },
        )
        return bool(getattr(found, field, None) == "SENTINEL")
    with _environment({}):
        baseline = vars(cli._build_parser().parse_args(argv[1:]))
    for sample in ("7", "false", "true", "/sentinel/path", "sentinel.example:1"):
        try:
            with _environment({name: sample}):
                parsed = vars(cli._build_parser().parse_args(argv[1:]))
        except (ValueError, SystemExit):
            continue  # not a value this variable takes
        if parsed != baseline:
            return True
    return False


def _port_number(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p.get("name") == port))


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _probes(container: Doc) -> list[Doc]:
    names = ("readinessProbe", "livenessProbe", "startupProbe")
    return [container[n] for n in names if n in container]


# ---- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    assert len(MANIFESTS) >= 10
    for name, document in MANIFESTS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {document['kind']}/{document['metadata']['name']}: {error}")


def _values(node: object, key: str) -> Iterator[Any]:
    """Every value of ``key`` anywhere in ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from _values(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value, key)


def _import_types(node: object) -> None:
    """Imports the message types named by the ``@type`` of every Any in ``node``, so that
    protobuf's JSON parser can find them."""
    if isinstance(node, dict):
        if "@type" in node:
            package = str(node["@type"]).rsplit("/", 1)[-1].rsplit(".", 1)[0]
            module = importlib.import_module(package)
            for info in pkgutil.iter_modules(module.__path__):
                if info.name.endswith("_pb2"):
                    importlib.import_module(f"{package}.{info.name}")
        for value in node.values():
            _import_types(value)
    elif isinstance(node, list):
        for value in node:
            _import_types(value)


ENVOY_CONFIGS = sorted((DEPLOY / "envoy").glob("*.yaml"))


@pytest.mark.parametrize("path", ENVOY_CONFIGS, ids=lambda p: p.name)
def test_envoy_configurations_are_envoy_bootstraps(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    _import_types(config)
    bootstrap = json_format.ParseDict(config, bootstrap_pb2.Bootstrap())
    clusters = {c.name for c in bootstrap.static_resources.clusters}
    assert clusters
    # Every route, and every health filter, names a cluster that exists.
    named = list(_values(config, "cluster"))
    for percentages in _values(config, "cluster_min_healthy_percentages"):
        named.extend(percentages)
    assert named
    assert set(named) <= clusters, set(named) - clusters


def test_an_unknown_envoy_field_is_refused() -> None:
    """The check above would catch a typo."""
    config = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    config["static_resources"]["clusters"][0]["lb_polcy"] = "ROUND_ROBIN"
    _import_types(config)
    with pytest.raises(json_format.ParseError, match="lb_polcy"):
        json_format.ParseDict(config, bootstrap_pb2.Bootstrap())


# ---- what iamd is given -------------------------------------------------------------------


def test_the_image_sets_only_variables_serve_reads_and_no_metrics_port() -> None:
    assert IMAGE.entrypoint == ["iamd"] and IMAGE.cmd == ["serve"]
    assert IMAGE.env
    for name in IMAGE.env:
        assert _reads(["iamd", "serve"], name), name
    # Inherited by every sidecar: a port here could collide with the application's.
    assert "IAMD_METRICS_LISTEN" not in IMAGE.env
    assert IMAGE.user.split(":")[0].isdigit(), "runAsNonRoot needs a numeric user"


def test_every_iamd_variable_in_a_manifest_is_read_by_the_command_it_runs() -> None:
    seen = 0
    for workload in _workloads():
        spec = _pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            names = [e["name"] for e in container.get("env", []) if e["name"].startswith("IAMD_")]
            if _is_iamd(container):
                argv = _argv(container)
                _parse(argv, _env(container))  # the arguments parse
                for name in names:
                    seen += 1
                    assert _reads(argv, name), (workload["metadata"]["name"], argv[1], name)
            else:
                env = _env(container)
                for name in names:
                    seen += 1
                    other = {**env, name: "SENTINEL.example:1"}
                    try:
                        changed = resolve(environ=env) != resolve(environ=other)
                    except CredentialsError:
                        changed = True  # read, and refused
                    assert changed, (workload["metadata"]["name"], container["name"], name)
    assert seen >= 10


def test_replicas_never_bootstrap_by_themselves() -> None:
    for workload in _workloads():
        for container in _pod_spec(workload)["containers"]:
            if _is_iamd(container) and _argv(container)[1] == "serve":
                args = _parse(_argv(container), _env(container))
                assert args.bootstrap is False, workload["metadata"]["name"]


def test_servers_listen_where_their_ports_and_probes_say() -> None:
    checked = 0
    for workload in _workloads():
        spec = _pod_spec(workload)
        pod_ports: list[int] = []
        for container in spec["containers"]:
            declared = {int(p["containerPort"]) for p in container.get("ports", [])}
            if not _is_iamd(container):
                pod_ports += sorted(declared)
                continue
            args = _parse(_argv(container), _env(container))
            host, grpc_port = _host_port(args.listen)
            listening = [grpc_port]
            reachable = {grpc_port} if host == "0.0.0.0" else set()
            if args.metrics_listen:
                metrics_host, metrics_port = _host_port(args.metrics_listen)
                listening.append(metrics_port)
                assert metrics_host == "0.0.0.0" and metrics_port in declared
                annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
                assert annotations.get("prometheus.io/port") == str(metrics_port)
            pod_ports += listening
            # Declared ports are ports iamd listens on from the pod's address.
            assert declared <= reachable | ({listening[-1]} if args.metrics_listen else set())
            assert _probes(container), workload["metadata"]["name"]
            for probe in _probes(container):
                checked += 1
                if "grpc" in probe:
                    # The kubelet dials the pod's IP: iamd must listen there on that port.
                    assert _port_number(container, probe["grpc"]["port"]) in reachable
                else:
                    # Listening on localhost only: the probe runs inside the container.
                    assert host == "127.0.0.1"
                    assert probe["exec"]["command"] == [
                        "python",
                        "-m",
                        "iamd_server.runtime.healthcheck",
                    ]
        assert len(pod_ports) == len(set(pod_ports)), (workload["metadata"]["name"], pod_ports)
    assert checked >= 4


def test_secret_files_are_readable_by_the_image_user() -> None:
    uid = int(IMAGE.user.split(":")[0])
    for workload in _workloads():
        spec = _pod_spec(workload)
        secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
        for container in spec["containers"] + spec.get("initContainers", []):
            if not _is_iamd(container):
                continue
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in secrets:
                    continue
                mode = secrets[mount["name"]].get("defaultMode", 0o644)
                group = spec.get("securityContext", {}).get("fsGroup")
                assert mode & 0o004 or (mode & 0o040 and group == uid), workload["metadata"]


def test_the_sidecar_talks_to_iamd_on_localhost() -> None:
    pod = _pod_spec(_find("Deployment", "orders"))
    containers = {c["name"]: c for c in pod["containers"]}
    app = resolve(environ=_env(containers["orders"]))
    args = _parse(_argv(containers["iamd-sidecar"]), _env(containers["iamd-sidecar"]))
    assert app.endpoint == args.listen == "127.0.0.1:50051"
    assert app.credentials_source == "environment"
    assert args.metrics_listen is None


def test_the_sidecar_probe_checks_a_real_server(database_url: str, tmp_path: Path) -> None:
    iamd = next(c for c in _pod_spec(_find("Deployment", "orders"))["containers"] if _is_iamd(c))
    command = [sys.executable, *iamd["readinessProbe"]["exec"]["command"][1:]]
    server = start_server(database_url, tmp_path)
    env = {**os.environ, **_env(iamd), "IAMD_LISTEN": server.endpoint}
    try:
        ready = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        assert ready.returncode == 0, ready.stderr
    finally:
        server.stop()
    gone = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1
    assert "UNAVAILABLE" in gone.stderr


# ---- Envoy in front of the replicas -------------------------------------------------------


def _envoy_config() -> Doc:
    config: Doc = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    return config


def test_envoy_sees_every_replica_and_balances_each_request() -> None:
    config = _envoy_config()
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == "iamd")
    assert cluster["type"] == "STRICT_DNS"
    assert cluster["lb_policy"] in ("LEAST_REQUEST", "ROUND_ROBIN", "RANDOM")
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    assert "grpc_health_check" in cluster["health_checks"][0]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    socket = address["address"]["socket_address"]
    service_name, namespace, *domain = socket["address"].split(".")
    assert domain == ["svc", "cluster", "local"]
    service = _find("Service", service_name)
    assert service["metadata"]["namespace"] == namespace
    # Headless: DNS names each pod, not one virtual IP.
    assert service["spec"]["clusterIP"] == "None"
    port = next(p for p in service["spec"]["ports"] if p["port"] == socket["port_value"])
    deployment = next(
        d
        for d in _workloads()
        if d["spec"]["template"]["metadata"]["labels"] == service["spec"]["selector"]
    )
    iamd = _pod_spec(deployment)["containers"][0]
    assert _port_number(iamd, port["targetPort"]) == socket["port_value"]
    assert _host_port(_parse(_argv(iamd), _env(iamd)).listen) == ("0.0.0.0", socket["port_value"])
    # Only Envoy's pods may open that plaintext port.
    policy = _find("NetworkPolicy", "iamd")
    envoy_labels = _find("Deployment", "iamd-envoy")["spec"]["template"]["metadata"]["labels"]
    rule = next(
        r
        for r in policy["spec"]["ingress"]
        if {"port": port["port"], "protocol": "TCP"} in r["ports"]
    )
    assert rule["from"] == [{"podSelector": {"matchLabels": envoy_labels}}]


def test_envoy_pods_load_the_configuration_they_are_given() -> None:
    config = _envoy_config()
    deployment = _find("Deployment", "iamd-envoy")
    spec = _pod_spec(deployment)
    envoy = spec["containers"][0]
    argv = _argv(envoy)
    config_path = Path(argv[argv.index("-c") + 1])
    mounts = {m["mountPath"]: m["name"] for m in envoy["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}

    def source(path: Path) -> tuple[str, str]:
        """(kind/name of the volume's source, key) holding the file at ``path``."""
        volume = volumes[mounts[str(path.parent)]]
        kind = "configMap" if "configMap" in volume else "secret"
        ref = volume[kind]
        key = next(i["key"] for i in ref["items"] if i["path"] == path.name)
        return f"{kind}/{ref.get('name') or ref.get('secretName')}", key

    assert source(config_path) == ("configMap/iamd-envoy", "envoy.yaml")
    filenames = list(_values(config, "filename"))
    assert filenames
    for filename in filenames:
        assert source(Path(filename))[0] == "secret/iamd-envoy-tls"
    # Listeners are the container's ports; readiness asks the health listener's path.
    listeners = {
        lst["name"]: lst["address"]["socket_address"]["port_value"]
        for lst in config["static_resources"]["listeners"]
    }
    assert set(listeners.values()) == {p["containerPort"] for p in envoy["ports"]}
    ready = envoy["readinessProbe"]["httpGet"]
    assert _port_number(envoy, ready["port"]) == listeners["health"]
    health = next(lst for lst in config["static_resources"]["listeners"] if lst["name"] == "health")
    check = health["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"][0]
    assert check["typed_config"]["headers"][0]["string_match"]["exact"] == ready["path"]
    assert set(check["typed_config"]["cluster_min_healthy_percentages"]) == {"iamd"}
    service = _find("Service", "iamd-envoy")
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
        p["name"] for p in envoy["ports"]
    }


# ---- bootstrap ----------------------------------------------------------------------------


def test_the_bootstrap_job_keeps_the_credentials_in_a_secret() -> None:
    job = _find("Job", "iamd-bootstrap")
    spec = _pod_spec(job)
    # A failed step is retried in the same pod, whose volume still holds the credentials.
    assert spec["restartPolicy"] == "OnFailure"
    (init,) = spec["initContainers"]
    (store,) = spec["containers"]
    args = _parse(_argv(init), _env(init))
    assert args.command == "bootstrap"
    output = Path(args.output)
    shared = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    volume = next(n for n, path in shared.items() if Path(path) == output.parent)
    assert next(v for v in spec["volumes"] if v["name"] == volume)["emptyDir"]["medium"] == "Memory"
    assert {m["name"]: m["mountPath"] for m in store["volumeMounts"]}[volume] == shared[volume]
    script = store["command"][-1]
    assert f"[ -s {output} ]" in script
    assert f"iamd-root-credentials --from-file=credentials={output}" in script
    # Both containers run as the user that owns the 0600 file.
    assert spec["securityContext"]["runAsUser"] == int(IMAGE.user.split(":")[0])
    # Its service account may create secrets in its namespace, and nothing else.
    binding = _find("RoleBinding", "iamd-bootstrap")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "iamd"}
    ]
    role = _find("Role", binding["roleRef"]["name"])
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]


# ---- the README's commands ----------------------------------------------------------------


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- kubernetes:start -->")[1].split("<!-- kubernetes:end -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _kubectl(command: str) -> tuple[str, list[str]]:
    """(namespace, the rest) of a kubectl command."""
    words = shlex.split(command.split(" | ")[0])
    namespace = "default"
    if "-n" in words:
        at = words.index("-n")
        namespace = words[at + 1]
        del words[at : at + 2]
    return namespace, words[1:]


def _created() -> dict[tuple[str, str, str], set[str]]:
    """(kind, namespace, name) -> keys, of what the README's kubectl create commands make."""
    made: dict[tuple[str, str, str], set[str]] = {}
    for command in _readme_commands():
        if not command.startswith("kubectl"):
            continue
        namespace, words = _kubectl(command)
        if words[:1] != ["create"] or words[1] not in ("secret", "configmap"):
            continue
        if words[1] == "secret" and words[2] == "tls":
            made[("secret", namespace, words[3])] = {"tls.crt", "tls.key"}
            continue
        name = words[3] if words[1] == "secret" else words[2]
        keys = {
            w.split("=", 1)[1].split("=", 1)[0]
            for w in words
            if w.startswith(("--from-file=", "--from-literal="))
        }
        made[(words[1], namespace, name)] = keys
    return made


def _used() -> dict[tuple[str, str, str], set[str]]:
    """(kind, namespace, name) -> keys, of the secrets and config maps the manifests use."""
    used: dict[tuple[str, str, str], set[str]] = {}
    for workload in _workloads():
        namespace = workload["metadata"]["namespace"]
        spec = _pod_spec(workload)
        for volume in spec.get("volumes", []):
            for kind, field in (("secret", "secretName"), ("configMap", "name")):
                if kind in volume:
                    key = (kind.lower(), namespace, volume[kind][field])
                    used.setdefault(key, set()).update(i["key"] for i in volume[kind]["items"])
        for container in spec["containers"] + spec.get("initContainers", []):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.setdefault(("secret", namespace, ref["name"]), set()).add(ref["key"])
    return used


def test_the_readme_creates_every_secret_and_config_map_the_manifests_use() -> None:
    created, used = _created(), _used()
    assert len(used) >= 5
    for what, keys in used.items():
        assert what in created, what
        assert keys <= created[what], (what, keys - created[what])
    # The config map is made from the Envoy configuration tested above.
    command = next(c for c in _readme_commands() if "create configmap iamd-envoy" in c)
    assert "--from-file=envoy.yaml=deploy/envoy/envoy.yaml" in command


def test_the_readme_applies_every_manifest_in_order() -> None:
    applied = [
        _kubectl(c)[1][2] for c in _readme_commands() if c.startswith("kubectl") and " apply " in c
    ]
    files = {f"deploy/kubernetes/{path.name}" for path in (DEPLOY / "kubernetes").glob("*.yaml")}
    assert set(applied) == files
    assert applied[0] == "deploy/kubernetes/namespace.yaml"
    # Replicas start once the organization exists.
    wait = next(
        i for i, c in enumerate(_readme_commands()) if "wait" in c and "iamd-bootstrap" in c
    )
    first_server = _readme_commands().index("kubectl apply -f deploy/kubernetes/central.yaml")
    assert wait < first_server


def test_the_readme_reads_the_root_credentials_from_the_secret_the_job_writes() -> None:
    command = next(c for c in _readme_commands() if "get secret iamd-root-credentials" in c)
    namespace, _ = _kubectl(command)
    assert namespace == _find("Job", "iamd-bootstrap")["metadata"]["namespace"]
    assert "{.data.credentials}" in command
    assert "port-forward" in " ".join(_readme_commands())


def test_the_readme_key_and_certificate_commands_make_what_iamd_and_envoy_read(
    tmp_path: Path,
) -> None:
    commands = [c for c in _readme_commands() if c.startswith(("openssl", "umask"))]
    assert commands
    subprocess.run(["bash", "-euc", "\n".join(commands)], cwd=tmp_path, check=True, timeout=60)
    master_key = next(
        w.split("=", 2)[2]
        for c in _readme_commands()
        if "create secret generic iamd-master-key" in c
        for w in shlex.split(c)
        if w.startswith("--from-file=master.key=")
    )
    assert len(read_key_file(tmp_path / master_key)) == 32
    assert (tmp_path / master_key).stat().st_mode & 0o077 == 0
    tls = next(c for c in _readme_commands() if "create secret tls iamd-envoy-tls" in c)
    words = shlex.split(tls)
    cert = next(w.split("=", 1)[1] for w in words if w.startswith("--cert="))
    key = next(w.split("=", 1)[1] for w in words if w.startswith("--key="))
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
        tmp_path / cert, tmp_path / key
    )
