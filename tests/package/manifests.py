#!/usr/bin/env python3
"""The deployment manifests (packaging/): Kubernetes (k8s/), compose.yaml, the
Containerfile and the default starling.toml are well-formed and carry what
docs/deploy.md relies on: a StatefulSet behind a headless Service used as the
seed list, the swarm key from a Secret mounted as a file, the config from a
ConfigMap, the metrics port annotated for Prometheus, resources, probes, the
image of this version. Usage: manifests.py PACKAGING_DIR VERSION"""
import os
import shutil
import subprocess
import sys
import tomllib

import yaml

packaging, version = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


image = f"localhost/starling:{version}"
k8s = os.path.join(packaging, "k8s")
kustomization = load_all(os.path.join(k8s, "kustomization.yaml"))[0]
docs = []
for name in kustomization.get("resources", []):
    for d in load_all(os.path.join(k8s, name)):
        for key in ("apiVersion", "kind", "metadata"):
            check(key in d, f"{name}: a document lacks {key}")
        check(bool(d.get("metadata", {}).get("name")), f"{name}: a document has no metadata.name")
        docs.append(d)
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)

generated_secrets = {g["name"]: g for g in kustomization.get("secretGenerator", [])}
check(any("swarm.key" in g.get("files", []) for g in generated_secrets.values()),
      "kustomization: no secretGenerator makes a Secret from swarm.key")

workloads = by_kind.get("StatefulSet", []) + by_kind.get("DaemonSet", [])
if check(len(workloads) == 1, f"want one StatefulSet or DaemonSet, found {len(workloads)}"):
    w = workloads[0]
    spec = w["spec"]
    template = spec["template"]
    labels = template["metadata"].get("labels", {})
    check(spec["selector"]["matchLabels"].items() <= labels.items(), "workload selector does not match its pods")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    headless = services.get(spec.get("serviceName"))
    if check(headless is not None, f"serviceName {spec.get('serviceName')!r} names no Service"):
        hs = headless["spec"]
        check(hs.get("clusterIP") == "None", "the workload's Service is not headless (clusterIP: None)")
        check(hs.get("publishNotReadyAddresses") is True,
              "the headless Service hides unready pods (a new swarm has no ready seed)")
        check(hs.get("selector", {}).items() <= labels.items(), "the headless Service selects no pod of the workload")
        sports = {(p.get("port"), p.get("protocol", "TCP")) for p in hs.get("ports", [])}
        check({(7946, "TCP"), (7946, "UDP")} <= sports, f"the Service lacks the swarm port on TCP and UDP: {sports}")

    annotations = template["metadata"].get("annotations", {})
    check(annotations.get("prometheus.io/scrape") == "true", "pods lack prometheus.io/scrape: \"true\"")
    check(annotations.get("prometheus.io/path") == "/metrics", "pods lack prometheus.io/path: /metrics")
    pod = template["spec"]
    containers = pod["containers"]
    check(len(containers) == 1, "want one container")
    c = containers[0]
    check(c.get("image") == image, f"image is {c.get('image')!r}, want {image!r}")
    ports = {(p["containerPort"], p.get("protocol", "TCP")): p for p in c.get("ports", [])}
    check({(7946, "TCP"), (7946, "UDP")} <= ports.keys(), "container lacks port 7946 on TCP and UDP")
    metrics_port = annotations.get("prometheus.io/port")
    check(metrics_port is not None and (int(metrics_port), "TCP") in ports,
          f"prometheus.io/port {metrics_port!r} is not a container port")
    args = c.get("args", []) + c.get("command", [])
    check(f"0.0.0.0:{metrics_port}" in args, f"the peer is not started with --metrics 0.0.0.0:{metrics_port}")
    check(args[args.index("--config") + 1:][:1] == ["/etc/starling/starling.toml"] if "--config" in args else False,
          "the peer is not started with --config /etc/starling/starling.toml")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            check(what in res.get(part, {}), f"resources.{part}.{what} missing")
    probe = c.get("livenessProbe", {})
    check(probe.get("httpGet", {}).get("path") == "/metrics" or "starling status" in str(probe.get("exec", "")),
          "livenessProbe is neither the metrics endpoint nor `starling status`")
    check("readinessProbe" in c, "no readinessProbe")
    env = {e["name"]: e for e in c.get("env", [])}
    check(env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP",
          "POD_IP does not come from status.podIP (the peer must advertise its pod address)")
    check(env.get("STARLING_SEEDS", {}).get("value") == spec.get("serviceName"),
          "STARLING_SEEDS is not the headless Service")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    key_file = env.get("STARLING_SWARM_KEY_FILE", {}).get("value", "")
    key_mount = mounts.get(os.path.dirname(key_file))
    if check(key_mount is not None, f"the swarm key file {key_file!r} is in no mount"):
        secret = volumes.get(key_mount["name"], {}).get("secret", {})
        check(secret.get("secretName") in generated_secrets, "the swarm key mount is not the generated Secret")
    config_mount = mounts.get("/etc/starling")
    if check(config_mount is not None, "nothing is mounted at /etc/starling"):
        cm_name = volumes.get(config_mount["name"], {}).get("configMap", {}).get("name")
        cms = {m["metadata"]["name"]: m for m in by_kind.get("ConfigMap", [])}
        if check(cm_name in cms, f"/etc/starling is not a ConfigMap of the manifests ({cm_name!r})"):
            toml_text = cms[cm_name].get("data", {}).get("starling.toml", "")
            try:
                tomllib.loads(toml_text)
            except tomllib.TOMLDecodeError as e:
                check(False, f"ConfigMap starling.toml is not TOML: {e}")
            check("listen" not in toml_text, "the ConfigMap sets listen (the entry point sets the pod's address)")
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    check(mounts.get("/var/lib/starling", {}).get("name") in claims | {n for n, v in volumes.items()
                                                                        if "persistentVolumeClaim" in v},
          "/var/lib/starling (identity, checkpoints) is not on a persistent volume")
    sc = c.get("securityContext", {})
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "pods may run as root")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), "the PodDisruptionBudget selects no pod")

# compose: three peers, the swarm key as a secret, seeds by service name.
compose = load_all(os.path.join(packaging, "compose.yaml"))[0]
services = compose.get("services", {})
check(len(services) >= 3, f"compose.yaml has {len(services)} services, want 3")
check("swarm_key" in compose.get("secrets", {}), "compose.yaml defines no swarm_key secret")
seeded = 0
for name, s in services.items():
    check(s.get("image") == image, f"compose {name}: image {s.get('image')!r}, want {image!r}")
    check("swarm_key" in s.get("secrets", []), f"compose {name}: no swarm_key secret")
    env = s.get("environment", {})
    check(env.get("STARLING_SWARM_KEY_FILE") == "/run/secrets/swarm_key", f"compose {name}: swarm key not passed")
    check(any(v.endswith(":/var/lib/starling") for v in s.get("volumes", [])), f"compose {name}: no state volume")
    seeds = env.get("STARLING_SEEDS", "").split()
    check(all(seed in services and seed != name for seed in seeds), f"compose {name}: seeds {seeds} are not other services")
    seeded += bool(seeds)
check(seeded == len(services) - 1, f"compose: {seeded} services have seeds, want all but the first")

# Containerfile: installs this version's .deb and runs the entry point it copies.
with open(os.path.join(packaging, "Containerfile"), encoding="utf-8") as f:
    containerfile = f.read()
check(f"starling_{version}_amd64.deb" in containerfile, f"the Containerfile does not install starling_{version}_amd64.deb")
check("FROM ${BASE}" in containerfile and "bookworm" in containerfile, "the Containerfile is not based on bookworm")
check('ENTRYPOINT ["/usr/local/bin/starling-entrypoint"]' in containerfile
      and "COPY packaging/container/entrypoint.sh /usr/local/bin/starling-entrypoint" in containerfile,
      "the Containerfile's entry point is not the copied packaging/container/entrypoint.sh")
check(os.access(os.path.join(packaging, "container", "entrypoint.sh"), os.R_OK), "no packaging/container/entrypoint.sh")
if shutil.which("sh"):
    r = subprocess.run(["sh", "-n", os.path.join(packaging, "container", "entrypoint.sh")], capture_output=True, text=True)
    check(r.returncode == 0, f"entrypoint.sh: {r.stderr}")

# The packaged default config is TOML with a listen address.
with open(os.path.join(packaging, "starling.toml"), "rb") as f:
    default = tomllib.load(f)
check("listen" in default, "packaging/starling.toml has no listen")

# yamllint (relaxed: long lines are fine, errors are not).
if shutil.which("yamllint"):
    files = [os.path.join(k8s, n) for n in ["kustomization.yaml"] + kustomization.get("resources", [])]
    files.append(os.path.join(packaging, "compose.yaml"))
    r = subprocess.run(["yamllint", "-f", "parsable", "-d", "{extends: relaxed, rules: {line-length: disable}}"] + files,
                       capture_output=True, text=True)
    check(r.returncode == 0 and "[error]" not in r.stdout, f"yamllint: {r.stdout}{r.stderr}")
else:
    print("SKIP: yamllint is missing; YAML checked by python3-yaml only")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print(f"checked {len(docs)} Kubernetes documents, {len(services)} compose services: {len(failures)} failures")
sys.exit(1 if failures else 0)
