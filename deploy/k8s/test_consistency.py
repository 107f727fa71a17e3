#!/usr/bin/env python3
"""The kubernetes manifests agree with the product they deploy.

Every port, command, probe path, image, peer url and network path named in
deploy/k8s (rendered per overlay) and deploy/argocd is compared with where
the product defines it: the shop's topology (libs/topology/src/lib.rs), the
compose stack (deploy/compose/docker-compose.yml), the Dockerfile, the
engine's config loader, the playbooks' guardrails and the alert rules'
resource budget, and terraform's region and network.

    python3 deploy/k8s/test_consistency.py            # renders with kubectl kustomize
    RENDERED_DIR=/tmp/r python3 deploy/k8s/test_consistency.py   # uses /tmp/r/<overlay>.yaml

Needs PyYAML, and kubectl (or RENDERED_DIR). deploy/check-platform.sh runs it.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import unittest
from functools import lru_cache

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())


@lru_cache(maxsize=None)
def kustomize(path):
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        raise unittest.SkipTest("no kubectl and no RENDERED_DIR")
    out = subprocess.run([kubectl, "kustomize", str(path)], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@lru_cache(maxsize=None)
def rendered(overlay):
    rdir = os.environ.get("RENDERED_DIR")
    if rdir and (pathlib.Path(rdir) / f"{overlay}.yaml").exists():
        return [d for d in yaml.safe_load_all((pathlib.Path(rdir) / f"{overlay}.yaml").read_text()) if d]
    return kustomize(K8S / "overlays" / overlay)


def topology():
    """{name: (port, [peers])} from libs/topology/src/lib.rs."""
    src = (ROOT / "libs/topology/src/lib.rs").read_text()
    found = re.findall(r'name:\s*"(\w+)",\s*port:\s*(\d+),\s*peers:\s*&\[([^\]]*)\]', src)
    assert len(found) == 7, f"expected the seven services in libs/topology, found {len(found)}"
    return {n: (int(p), re.findall(r'"(\w+)"', peers)) for n, p, peers in found}


TOPOLOGY = topology()
COMPOSE = yaml.safe_load((ROOT / "deploy/compose/docker-compose.yml").read_text())["services"]
DOCKERFILE = (ROOT / "deploy/docker/Dockerfile").read_text()


def by(objs, kind, name=None):
    out = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if name is not None:
        assert len(out) == 1, f"{kind}/{name}: {len(out)} found"
        return out[0]
    return out


def container(deploy):
    cs = deploy["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1, deploy["metadata"]["name"]
    return cs[0]


def configmap_env(objs, deploy):
    """The variables the container gets from its configmaps (envFrom) and env."""
    env = {}
    c = container(deploy)
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            env.update(by(objs, "ConfigMap", src["configMapRef"]["name"])["data"])
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def secret_refs(deploy):
    return {s["secretRef"]["name"] for s in container(deploy).get("envFrom", []) if "secretRef" in s}


def engine_config(objs):
    """The engine's aiops.yaml, from the configmap its deployment mounts."""
    pod = by(objs, "Deployment", "aiops")["spec"]["template"]["spec"]
    mount = next(m for m in container(by(objs, "Deployment", "aiops"))["volumeMounts"] if m["mountPath"] == "/etc/aiops/aiops.yaml")
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return yaml.safe_load(by(objs, "ConfigMap", vol["configMap"]["name"])["data"][mount["subPath"]])


def port_of(port_ref, c):
    if isinstance(port_ref, int):
        return port_ref
    return next(p["containerPort"] for p in c["ports"] if p["name"] == port_ref)


class Topology(unittest.TestCase):
    """Each shop service: its command, port, probes, peers and network paths."""

    def test_every_overlay_runs_the_seven_services_as_the_image_runs_them(self):
        self.assertIn('ENTRYPOINT ["/usr/local/bin/service"]', DOCKERFILE)
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            shop = {d["metadata"]["name"] for d in by(objs, "Deployment")
                    if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "shop"}
            self.assertEqual(shop, set(TOPOLOGY), overlay)
            for name, (port, _) in TOPOLOGY.items():
                with self.subTest(overlay=overlay, service=name):
                    d = by(objs, "Deployment", name)
                    c = container(d)
                    # the same arguments as the compose stack's command
                    self.assertEqual(c["args"], ["run", name])
                    self.assertEqual(COMPOSE[name]["command"], ["run", name])
                    self.assertNotIn("command", c, "the image's entrypoint runs it")
                    self.assertEqual([(p["name"], p["containerPort"]) for p in c["ports"]], [("http", port)])
                    env = configmap_env(objs, d)
                    self.assertEqual(env["SHOP_LISTEN"], f"0.0.0.0:{port}")
                    self.assertEqual(COMPOSE[name]["environment"]["SHOP_LISTEN"], f"0.0.0.0:{port}")
                    svc = by(objs, "Service", name)
                    self.assertEqual(svc["spec"]["selector"], {"app.kubernetes.io/name": name})
                    self.assertEqual([(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]], [(port, "http")])

    def test_probes_are_healthz_and_readyz(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            for d in by(objs, "Deployment"):
                c = container(d)
                with self.subTest(overlay=overlay, deployment=d["metadata"]["name"]):
                    self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
                    self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
                    self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/healthz")
                    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                        self.assertEqual(port_of(c[probe]["httpGet"]["port"], c), c["ports"][0]["containerPort"])

    def test_peer_urls_are_the_topologys_and_composes(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            for name, (_, peers) in TOPOLOGY.items():
                with self.subTest(overlay=overlay, service=name):
                    env = configmap_env(objs, by(objs, "Deployment", name))
                    urls = {k: v for k, v in env.items() if re.fullmatch(r"SHOP_[A-Z]+_URL", k) and k[5:-4].lower() in TOPOLOGY}
                    want = {f"SHOP_{p.upper()}_URL": f"http://{p}:{TOPOLOGY[p][0]}" for p in peers}
                    self.assertEqual(urls, want, "exactly the peers it calls")
                    for k, v in want.items():
                        self.assertEqual(COMPOSE[name]["environment"][k], v)

    def test_backends_get_their_stores_as_in_compose(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            for name in TOPOLOGY:
                compose_env = COMPOSE[name]["environment"]
                refs = secret_refs(by(objs, "Deployment", name))
                with self.subTest(overlay=overlay, service=name):
                    self.assertIn("shop-admin", refs)  # SHOP_ADMIN_TOKEN, as compose gives every service
                    self.assertIn("SHOP_ADMIN_TOKEN", compose_env)
                    self.assertEqual("shop-database" in refs, "DATABASE_URL" in compose_env)
                    self.assertEqual("shop-redis" in refs, "REDIS_URL" in compose_env)

    def test_network_policies_follow_the_call_graph(self):
        callers = {n: {m for m, (_, peers) in TOPOLOGY.items() if n in peers} for n in TOPOLOGY}
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            # the namespace starts closed
            deny = by(objs, "NetworkPolicy", "default-deny")
            self.assertEqual(deny["spec"]["podSelector"], {})
            self.assertEqual(sorted(deny["spec"]["policyTypes"]), ["Egress", "Ingress"])
            self.assertNotIn("ingress", deny["spec"])
            self.assertNotIn("egress", deny["spec"])
            dns = by(objs, "NetworkPolicy", "allow-dns")
            self.assertEqual({p["port"] for p in dns["spec"]["egress"][0]["ports"]}, {53})
            for name, (port, peers) in TOPOLOGY.items():
                with self.subTest(overlay=overlay, service=name):
                    np = by(objs, "NetworkPolicy", name)
                    from_pods = set()
                    for rule in np["spec"]["ingress"]:
                        for peer in rule["from"]:
                            if "podSelector" in peer and "namespaceSelector" not in peer:
                                from_pods.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
                    self.assertEqual(from_pods, callers[name])
                    to = {}
                    for rule in np["spec"].get("egress", []):
                        for peer in rule["to"]:
                            to[peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]] = [p["port"] for p in rule["ports"]]
                    self.assertEqual(to, {p: [TOPOLOGY[p][0]] for p in peers})
                    # prometheus may scrape it
                    scrape = [r for r in np["spec"]["ingress"] if any("namespaceSelector" in f for f in r["from"])]
                    self.assertTrue(scrape, "prometheus' scrape")

    def test_scrape_targets_are_the_services(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            for name in [*TOPOLOGY, "aiops"]:
                sm = by(objs, "ServiceMonitor", name)
                self.assertEqual(sm["spec"]["selector"]["matchLabels"], {"app.kubernetes.io/name": name})
                self.assertEqual([(e["port"], e["path"]) for e in sm["spec"]["endpoints"]], [("http", "/metrics")])


class Images(unittest.TestCase):
    def test_images_and_users_are_the_dockerfiles(self):
        self.assertIn("USER 65532:65532", DOCKERFILE)
        self.assertIn("WORKDIR /data", DOCKERFILE)
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            for d in by(objs, "Deployment"):
                name = d["metadata"]["name"]
                c = container(d)
                repo, _, tag = c["image"].rpartition(":")
                with self.subTest(overlay=overlay, deployment=name):
                    self.assertTrue(tag, "a tag")
                    self.assertTrue(repo.endswith("aiops/engine" if name == "aiops" else "aiops/shop"), repo)
                    if overlay == "prod":
                        self.assertRegex(repo, r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/aiops/(shop|engine)$")
                    pod = d["spec"]["template"]["spec"]
                    sc = c["securityContext"]
                    self.assertEqual(pod["securityContext"]["runAsUser"], 65532)
                    self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                    self.assertEqual(sc["runAsUser"], 65532)
                    self.assertTrue(sc["readOnlyRootFilesystem"])
                    self.assertFalse(sc["allowPrivilegeEscalation"])
                    self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                    self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
                    # the only place the image may write is /data, on an emptyDir
                    for m in c.get("volumeMounts", []):
                        if not m.get("readOnly"):
                            self.assertEqual(m["mountPath"], "/data")
                            vol = next(v for v in pod["volumes"] if v["name"] == m["name"])
                            self.assertIn("emptyDir", vol)
                    if name != "aiops":
                        self.assertFalse(pod["automountServiceAccountToken"])
                        self.assertFalse(by(objs, "ServiceAccount", name)["automountServiceAccountToken"])
                        env = {e["name"]: e.get("value") for e in c["env"]}
                        self.assertEqual(env["SHOP_VERSION"], tag, "the image's tag is the version")

    def test_every_shop_deployment_shares_one_tag(self):
        for overlay in OVERLAYS:
            tags = {container(d)["image"] for d in by(rendered(overlay), "Deployment") if d["metadata"]["name"] != "aiops"}
            self.assertEqual(len(tags), 1, tags)


class Engine(unittest.TestCase):
    CONFIG_RS = (ROOT / "aiops-engine/server/src/config/remediation.rs").read_text()

    def test_the_engine_runs_as_in_compose(self):
        compose = COMPOSE["aiops"]
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            d = by(objs, "Deployment", "aiops")
            c = container(d)
            self.assertEqual(c["args"], compose["command"])
            self.assertEqual(c["args"], ["serve", "--config", "/etc/aiops/aiops.yaml"])
            self.assertEqual([(p["name"], p["containerPort"]) for p in c["ports"]], [("http", 9800)])
            env = {e["name"]: e.get("value") for e in c["env"]}
            self.assertEqual(env["AIOPS_LISTEN"], compose["environment"]["AIOPS_LISTEN"])
            svc = by(objs, "Service", "aiops")
            self.assertEqual([p["port"] for p in svc["spec"]["ports"]], [9800])
            # the shop pushes its logs to the engine's service, as in compose
            ref = next(s["configMapRef"]["name"] for s in container(by(objs, "Deployment", "frontend"))["envFrom"]
                       if "configMapRef" in s and s["configMapRef"]["name"].startswith("shop-common"))
            common = by(objs, "ConfigMap", ref)["data"]
            self.assertIn("http://aiops:9800", common["SHOP_LOKI_URL"].split(","))
            # compose's default, unexpanded: ${SHOP_LOKI_URL:-http://loki:3100,http://aiops:9800}
            self.assertIn("http://aiops:9800", COMPOSE["frontend"]["environment"]["SHOP_LOKI_URL"])

    def test_the_config_points_at_mounted_files(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            d = by(objs, "Deployment", "aiops")
            c = container(d)
            pod = d["spec"]["template"]["spec"]
            mounts = {m["mountPath"]: next(v for v in pod["volumes"] if v["name"] == m["name"]) for m in c["volumeMounts"]}
            cfg_vol = mounts["/etc/aiops/aiops.yaml"]
            cfg = yaml.safe_load(by(objs, "ConfigMap", cfg_vol["configMap"]["name"])["data"]["aiops.yaml"])
            self.assertEqual(cfg["listen"], "0.0.0.0:9800")
            rules = pathlib.PurePosixPath(cfg["incidents"]["rules"])
            rules_cm = by(objs, "ConfigMap", mounts[str(rules.parent)]["configMap"]["name"])
            self.assertEqual(rules_cm["data"][rules.name], (ROOT / "rules/detectors.yaml").read_text())
            self.assertEqual(rules_cm["data"]["notify.yaml"], (ROOT / "rules/notify.yaml").read_text())
            books = by(objs, "ConfigMap", mounts[cfg["remediation"]["playbooks"]]["configMap"]["name"])["data"]
            want = {p.name: p.read_text() for p in (ROOT / "rules/playbooks").glob("*.yaml")}
            self.assertEqual(books, want, "every playbook of rules/playbooks, unchanged (rules/kustomization.yaml)")
            self.assertTrue(cfg["incidents"]["database"].startswith("sqlite:/data/"), "the writable emptyDir")

    def test_the_executor_is_one_the_engine_accepts(self):
        # the values of remediation.executor the engine's loader matches today
        accepted = set(re.findall(r'Some\("(\w+)"\)\s*=>', self.CONFIG_RS)) | {"none"}
        self.assertIn("process", accepted)
        for overlay in OVERLAYS:
            cfg = engine_config(rendered(overlay))
            self.assertIn(cfg["remediation"]["executor"], accepted)

    def test_rbac_is_what_the_playbooks_need(self):
        want = {
            ("apps", "deployments"): {"get", "list", "watch", "patch"},
            ("apps", "deployments/scale"): {"get", "patch", "update"},
            ("apps", "replicasets"): {"get", "list"},
            ("", "pods"): {"get", "list", "delete"},
            ("", "events"): {"get", "list", "watch"},
            ("events.k8s.io", "events"): {"get", "list", "watch"},
        }
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            self.assertFalse([o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")])
            role = by(objs, "Role", "aiops-remediation")
            got = {}
            for r in role["rules"]:
                for g in r["apiGroups"]:
                    for res in r["resources"]:
                        got[(g, res)] = set(r["verbs"])
            self.assertEqual(got, want)
            binding = by(objs, "RoleBinding", "aiops-remediation")
            self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "aiops", "namespace": role["metadata"]["namespace"]}])
            self.assertTrue(by(objs, "Deployment", "aiops")["spec"]["template"]["spec"]["automountServiceAccountToken"])


class Scaling(unittest.TestCase):
    def guardrails(self):
        book = yaml.safe_load((ROOT / "rules/playbooks/20-scale-out-saturated.yaml").read_text())
        return book["guardrails"]["min_replicas"], book["guardrails"]["max_replicas"]

    def test_autoscalers_stay_within_the_playbooks_bounds(self):
        _, most = self.guardrails()
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by(objs, "HorizontalPodAutoscaler")}
            self.assertEqual(set(hpas), set(TOPOLOGY))
            for name, h in hpas.items():
                self.assertLessEqual(h["spec"]["maxReplicas"], most)
                metrics = {m["type"]: m for m in h["spec"]["metrics"]}
                self.assertEqual(metrics["Resource"]["resource"]["name"], "cpu")
                self.assertEqual(metrics["Pods"]["pods"]["metric"]["name"], "http_server_requests_per_second")

    def test_limits_are_the_alert_rules_budget(self):
        alerts = (ROOT / "rules/prometheus/alerts.yml").read_text()
        self.assertIn("0.8 * 512 * 1024 * 1024", alerts)
        self.assertIn("instance:process_cpu_seconds:rate5m > 0.8", alerts)
        for overlay in OVERLAYS:
            for name in TOPOLOGY:
                limits = container(by(rendered(overlay), "Deployment", name))["resources"]["limits"]
                self.assertEqual((limits["memory"], str(limits["cpu"])), ("512Mi", "1"), f"{overlay}/{name}")

    def test_every_workload_has_a_disruption_budget(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            pdbs = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for p in by(objs, "PodDisruptionBudget")}
            self.assertEqual(pdbs, {*TOPOLOGY, "aiops"})


class Ingress(unittest.TestCase):
    def test_the_alb_sends_users_to_the_frontend(self):
        for overlay in OVERLAYS:
            objs = rendered(overlay)
            ing = by(objs, "Ingress", "frontend")
            a = ing["metadata"]["annotations"]
            self.assertEqual(ing["spec"]["ingressClassName"], "alb")
            self.assertEqual(a["alb.ingress.kubernetes.io/target-type"], "ip")
            self.assertEqual(a["alb.ingress.kubernetes.io/healthcheck-path"], "/readyz")
            backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            self.assertEqual((backend["name"], backend["port"]["name"]), ("frontend", "http"))
        self.assertEqual(by(rendered("prod"), "Ingress", "frontend")["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"], "internet-facing")


class DataStores(unittest.TestCase):
    def test_dev_runs_them_and_prod_does_not(self):
        dev, prod = rendered("dev"), rendered("prod")
        self.assertEqual({s["metadata"]["name"] for s in by(dev, "StatefulSet")}, {"postgres", "redis"})
        images = {container(s)["image"] for s in by(dev, "StatefulSet")}
        self.assertEqual({i.split(":")[0] for i in images}, {"postgres", "redis"})
        self.assertTrue(any(i.startswith("postgres:15") for i in images))
        self.assertTrue(any(i.startswith("redis:7") for i in images))
        self.assertEqual(by(prod, "StatefulSet"), [])
        # prod's come from secrets manager
        es = {e["spec"]["target"]["name"] for e in by(prod, "ExternalSecret")}
        self.assertEqual(es, {"shop-admin", "shop-database", "shop-redis", "aiops-secrets"})

    def test_no_secret_values_in_the_manifests(self):
        for overlay in OVERLAYS:
            self.assertEqual(by(rendered(overlay), "Secret"), [], overlay)

    def test_prod_region_is_terraforms(self):
        tf_vars = (ROOT / "terraform/envs/prod/variables.tf").read_text()
        region = re.search(r'variable "region" \{.*?default\s*=\s*"([a-z0-9-]+)"', tf_vars, re.S).group(1)
        self.assertIn(f'region         = "{region}"', (ROOT / "terraform/envs/prod/backend.tf").read_text())
        prod = rendered("prod")
        self.assertEqual(by(prod, "SecretStore", "aws-secrets-manager")["spec"]["provider"]["aws"]["region"], region)
        for d in by(prod, "Deployment"):
            self.assertIn(f".dkr.ecr.{region}.amazonaws.com/", container(d)["image"])
        cidr = re.search(r'variable "vpc_cidr" \{.*?default\s*=\s*"([0-9./]+)"', tf_vars, re.S).group(1)
        blocks = {p["ipBlock"]["cidr"] for np in by(prod, "NetworkPolicy") for r in np["spec"].get("egress", []) + np["spec"].get("ingress", [])
                  for p in r.get("to", r.get("from", [])) if "ipBlock" in p}
        self.assertEqual(blocks - {"0.0.0.0/0"}, {cidr})


class Rules(unittest.TestCase):
    def test_prometheus_rules_are_in_sync(self):
        out = subprocess.run([sys.executable, str(K8S / "gen-prometheusrules.py"), "--check"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_rules_kustomization_lists_every_playbook(self):
        k = yaml.safe_load((ROOT / "rules/kustomization.yaml").read_text())
        gen = {g["name"]: g["files"] for g in k["configMapGenerator"]}
        self.assertEqual(sorted(gen["aiops-playbooks"]), sorted(f"playbooks/{p.name}" for p in (ROOT / "rules/playbooks").glob("*.yaml")))


class ArgoCD(unittest.TestCase):
    def apps(self):
        out = []
        for f in sorted((ROOT / "deploy/argocd").rglob("*.yaml")):
            out += [d for d in yaml.safe_load_all(f.read_text()) if d and d["kind"] == "Application"]
        return out

    def test_applications_point_at_real_paths_in_allowed_places(self):
        projects = {p["metadata"]["name"]: p for p in yaml.safe_load_all((ROOT / "deploy/argocd/project.yaml").read_text())}
        apps = self.apps()
        self.assertGreaterEqual(len(apps), 6)
        for app in apps:
            spec = app["spec"]
            with self.subTest(app=app["metadata"]["name"]):
                proj = projects[spec["project"]]["spec"]
                self.assertIn(spec["source"]["repoURL"], proj["sourceRepos"])
                self.assertIn({"server": spec["destination"]["server"], "namespace": spec["destination"]["namespace"]}, proj["destinations"])
                self.assertTrue((ROOT / spec["source"]["path"]).is_dir(), spec["source"]["path"])
                self.assertEqual(spec["syncPolicy"]["automated"], {"prune": True, "selfHeal": True})
                if spec["project"] == "shop":
                    self.assertIn("argocd.argoproj.io/sync-wave", app["metadata"]["annotations"])
                    self.assertIn("RespectIgnoreDifferences=true", spec["syncPolicy"]["syncOptions"])

    def test_hpa_managed_replicas_are_ignored_and_namespaces_match(self):
        for app in self.apps():
            spec = app["spec"]
            if spec["project"] != "shop":
                continue
            objs = kustomize(ROOT / spec["source"]["path"]) if not os.environ.get("SKIP_APP_RENDER") else []
            hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in objs if h["kind"] == "HorizontalPodAutoscaler"}
            ignored = {i["name"] for i in spec.get("ignoreDifferences", []) if "/spec/replicas" in i["jsonPointers"]}
            self.assertEqual(ignored, hpa_targets, app["metadata"]["name"])
            for o in objs:
                if o["kind"] != "Namespace":
                    self.assertEqual(o["metadata"].get("namespace"), spec["destination"]["namespace"], o["metadata"]["name"])

    def test_waves_order_the_components(self):
        wave = {}
        for app in self.apps():
            if app["spec"]["project"] == "shop":
                comp = app["spec"]["source"]["path"].rstrip("/").split("/")[-1]
                wave.setdefault(comp, set()).add(int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]))
        order = [max(wave["namespace"]), max(wave["datastores"]), max(wave["engine"]), max(wave["shop"])]
        self.assertEqual(order, sorted(order))
        self.assertEqual(len(set(order)), 4)


if __name__ == "__main__":
    unittest.main(verbosity=1)
