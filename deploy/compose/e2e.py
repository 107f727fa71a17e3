#!/usr/bin/env python3
"""The compose stack end to end on the real Docker engine.

1. Builds the images (static binaries on scratch, Prometheus, Alertmanager,
   PostgreSQL and Redis from Debian packages), brings the stack up and waits
   until every container is healthy (timed: the cold `up`).
2. Places an order through the frontend's pages and finds it in PostgreSQL.
3. Checks that Prometheus' remote-write reaches the engine (it holds the
   shop's series) and that an alert fired at Alertmanager reaches it.
4. Crashes the cart through its chaos API: Docker's restart policy brings it
   back, the engine records the restart as a change signal and opens an
   incident for the cart.
5. Tears the stack down (containers, networks, volumes), also on failure.

Loki and Grafana are left out: they have no Debian package and cannot be
pulled here. Measures image sizes, the cold `up` and the idle memory of the
stack (docker stats) and writes them to $E2E_ARTIFACTS/compose-e2e.json.

    python3 deploy/compose/e2e.py            # from anywhere
    E2E_SKIP_CARGO=1 ...                     # release binaries already built
    E2E_BINARIES=target/debug ...            # package these (CI: the test build)

Ports on 127.0.0.1 come from E2E_PORT_BASE (default 28000: frontend 28080,
services 28081-28086, engine 28800, Prometheus 28090, Alertmanager 28093).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROJECT = os.environ.get("E2E_PROJECT", "aiopse2e")
TAG = "e2e"
BASE = int(os.environ.get("E2E_PORT_BASE", "28000"))
TOKEN = "e2e-chaos-token-0123456789"
SHOP = ["frontend", "catalog", "cart", "orders", "checkout", "payments", "recommendation"]
STACK = SHOP + ["aiops", "aiops-replica", "prometheus", "alertmanager", "postgres", "redis"]
LEFT_OUT = ["loki", "grafana"]
PORTS = {
    "FRONTEND_PORT": BASE + 80,
    "CATALOG_PORT": BASE + 81,
    "CART_PORT": BASE + 82,
    "ORDERS_PORT": BASE + 83,
    "CHECKOUT_PORT": BASE + 84,
    "PAYMENTS_PORT": BASE + 85,
    "RECOMMENDATION_PORT": BASE + 86,
    "AIOPS_PORT": BASE + 800,
    "AIOPS_REPLICA_PORT": BASE + 810,
    "PROMETHEUS_PORT": BASE + 90,
    "ALERTMANAGER_PORT": BASE + 93,
    # published by the left-out services; set so they cannot clash either
    "LOKI_PORT": BASE + 100,
    "GRAFANA_PORT": BASE + 30,
}
HEALTHY_WITHIN_S = 240
SESSION = "composeE2eSession0001"

results = []


class Failure(Exception):
    pass


def log(message):
    print(f"compose-e2e: {message}", flush=True)


def step(name):
    def wrap(fn):
        def run(*args, **kwargs):
            started = time.monotonic()
            log(f"step: {name}")
            try:
                value = fn(*args, **kwargs)
            except Exception as e:
                results.append((name, False, str(e)))
                raise
            results.append((name, True, f"{time.monotonic() - started:.1f} s"))
            log(f"ok: {name} ({time.monotonic() - started:.1f} s)")
            return value

        return run

    return wrap


def run(cmd, check=True, capture=True, env=None, timeout=1800):
    done = subprocess.run(
        cmd,
        cwd=HERE,
        env=env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()[-2000:] if capture else ""
        raise Failure(f"{' '.join(cmd)} exited {done.returncode}: {detail}")
    return done


def compose_env():
    env = dict(os.environ)
    env.update({k: str(v) for k, v in PORTS.items()})
    env.update(
        {
            "COMPOSE_PROJECT_NAME": PROJECT,
            "SHOP_IMAGE": f"aiops/shop:{TAG}",
            "ENGINE_IMAGE": f"aiops/engine:{TAG}",
            "SHOP_ADMIN_TOKEN": TOKEN,
            # Loki is left out: the services push their lines to the engines only
            "SHOP_LOKI_URL": "http://aiops:9800,http://aiops-replica:9800",
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        }
    )
    return env


def compose(*args, check=True, timeout=600):
    cmd = ["docker-compose", "--env-file", "local-images.env", "-f", "docker-compose.yml", *args]
    return run(cmd, check=check, env=compose_env(), timeout=timeout)


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, text); never follows redirects."""
    data = None
    headers = dict(headers or {})
    if isinstance(body, dict) and headers.get("Content-Type") == "application/x-www-form-urlencoded":
        data = urllib.parse.urlencode(body).encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with opener.open(request, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def get_json(url):
    status, _, text = http("GET", url)
    if status != 200:
        raise Failure(f"GET {url} answered {status}: {text[:300]}")
    return json.loads(text)


def wait_for(what, probe, within_s, every_s=1.0):
    """Calls probe until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + within_s
    last = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (OSError, ValueError, Failure, urllib.error.URLError) as e:
            last = e
        time.sleep(every_s)
    raise Failure(f"{what} not seen within {within_s} s" + (f" (last error: {last})" if last else ""))


def container(service):
    out = compose("ps", "-q", service).stdout.strip()
    if not out:
        raise Failure(f"no container for {service}")
    return out.splitlines()[0]


def inspect(container_id):
    return json.loads(run(["docker", "inspect", container_id]).stdout)[0]


@step("prerequisites: a Docker engine, docker-compose, free ports")
def prerequisites():
    for tool in ["docker", "docker-compose", "cargo"]:
        if shutil.which(tool) is None:
            raise Failure(f"{tool} is not installed")
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False)
    if info.returncode != 0:
        raise Failure(f"no Docker engine answers: {info.stderr.strip()[:500]}")
    log(f"docker engine {info.stdout.strip()}")
    leftovers = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"]).stdout.split()
    if leftovers:
        log(f"removing {len(leftovers)} containers a previous run left")
        compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
    for name, port in PORTS.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise Failure(f"127.0.0.1:{port} ({name}) is taken; set E2E_PORT_BASE")


@step("build the images")
def build_images():
    env = dict(os.environ)
    if os.environ.get("E2E_SKIP_CARGO") == "1":
        env["SKIP_CARGO"] = "1"
    if os.environ.get("E2E_BINARIES"):
        env["BINARIES"] = os.environ["E2E_BINARIES"]
    run(["bash", os.path.join(ROOT, "deploy/docker/build-prebuilt.sh"), TAG], capture=False, env=env)
    run(["bash", os.path.join(ROOT, "deploy/images/build-local.sh")], capture=False)
    config = compose("config", "--services").stdout.split()
    missing = [s for s in STACK + LEFT_OUT if s not in config]
    if missing:
        raise Failure(f"compose file lacks {missing}")
    sizes = {}
    for image in [f"aiops/shop:{TAG}", f"aiops/engine:{TAG}"] + [
        f"aiops-local/{n}:debian" for n in ["prometheus", "alertmanager", "postgres", "redis"]
    ]:
        sizes[image] = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout.strip())
    return sizes


@step("cold up: every container healthy")
def cold_up():
    started = time.monotonic()
    compose("up", "-d", "--no-build", *STACK, timeout=HEALTHY_WITHIN_S)
    # docker-compose v1 waits for the health its depends_on conditions name
    up_returned = time.monotonic() - started
    listed = run(
        [
            "docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
            "--format", '{{.Label "com.docker.compose.service"}} {{.ID}}',
        ]
    ).stdout.split("\n")
    ids = dict(line.split(" ", 1) for line in listed if " " in line)
    if sorted(ids) != sorted(STACK):
        raise Failure(f"containers after up: {sorted(ids)}, expected {sorted(STACK)}")
    healthy_at = {}

    def all_healthy():
        # one inspect for all, so the timing is not the polling's
        answered = json.loads(run(["docker", "inspect", *ids.values()]).stdout)
        by_id = {c["Id"]: c["State"] for c in answered}
        for service, cid in ids.items():
            state = next((st for full, st in by_id.items() if full.startswith(cid)), {})
            if service not in healthy_at and state.get("Health", {}).get("Status") == "healthy":
                healthy_at[service] = round(time.monotonic() - started, 1)
        return len(healthy_at) == len(STACK)

    try:
        wait_for("every container healthy", all_healthy, HEALTHY_WITHIN_S, every_s=0.2)
    except Failure:
        for service in STACK:
            state = inspect(container(service))["State"]
            log(f"  {service}: {state.get('Health', {}).get('Status', state['Status'])}")
        raise
    order = ", ".join(f"{s} {t} s" for s, t in sorted(healthy_at.items(), key=lambda kv: kv[1]))
    log(f"docker-compose up returned after {up_returned:.1f} s; healthy: {order}")
    return time.monotonic() - started, healthy_at


def idle_memory():
    ids = [container(s) for s in STACK]
    out = run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *ids]).stdout
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
    per = {}
    for line in out.strip().splitlines():
        name, usage = line.split("\t")
        used = usage.split("/")[0].strip()
        number, unit = re.match(r"([\d.]+)\s*([A-Za-z]+)", used).groups()
        per[name] = int(float(number) * units[unit])
    return per


def hidden(html, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        raise Failure(f"no hidden field {name} in the page")
    return match.group(1)


def place_order(session):
    """Two products into the cart of `session`, then the checkout form:
    the answer to placing the order (status, Location, body)."""
    base = f"http://127.0.0.1:{PORTS['FRONTEND_PORT']}"
    cookie = {"Cookie": f"shop_session={session}"}
    form = {**cookie, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, home = http("GET", base + "/", headers=cookie)
    if status != 200:
        raise Failure(f"home page answered {status}")
    products = list(dict.fromkeys(re.findall(r'href="/product/([^"]+)"', home)))
    if len(products) < 2:
        raise Failure(f"home page lists {len(products)} products")
    for product, quantity in [(products[0], "2"), (products[1], "1")]:
        status, headers, body = http("POST", base + "/cart/items", {"product_id": product, "quantity": quantity}, form)
        if (status, headers.get("Location")) != (303, "/cart"):
            raise Failure(f"add to cart answered {status} {headers.get('Location')}: {body[:300]}")
    status, _, page = http("GET", base + "/checkout", headers=cookie)
    if status != 200:
        raise Failure(f"checkout page answered {status}")
    fields = {
        "request_key": hidden(page, "request_key"),
        "email": "compose-e2e@example.com",
        "card_number": "4242 4242 4242 4242",
        "exp_month": "12",
        "exp_year": "2030",
        "cvc": "123",
    }
    status, headers, body = http("POST", base + "/checkout", fields, form, timeout=30)
    return status, headers.get("Location") or "", body


@step("a checkout through the frontend, the order in PostgreSQL")
def checkout():
    base = f"http://127.0.0.1:{PORTS['FRONTEND_PORT']}"
    cookie = {"Cookie": f"shop_session={SESSION}"}
    status, location, body = place_order(SESSION)
    if status != 303 or not location.startswith("/orders/"):
        raise Failure(f"placing the order answered {status} {location}: {body[:500]}")
    order_id = location.removeprefix("/orders/")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", order_id):
        raise Failure(f"unexpected order id {order_id!r}")
    status, _, confirmation = http("GET", base + location, headers=cookie)
    if status != 200 or order_id not in confirmation:
        raise Failure(f"confirmation page answered {status}")
    row = run(
        [
            "docker", "exec", container("postgres"), "psql", "-U", "shop", "-d", "shop", "-tA", "-c",
            f"SELECT session, email FROM orders.orders WHERE id = '{order_id}'",
        ]
    ).stdout.strip()
    if row != f"{SESSION}|compose-e2e@example.com":
        raise Failure(f"order {order_id} in PostgreSQL: {row!r}")
    log(f"order {order_id} stored in PostgreSQL")
    return order_id


@step("remote-write reaches the engine, which holds the shop's series and logs")
def remote_write():
    engine = f"http://127.0.0.1:{PORTS['AIOPS_PORT']}"
    selector = urllib.parse.quote('up{job=~"' + "|".join(SHOP) + '"}')

    def all_services():
        data = get_json(f"{engine}/api/v1/series?match[]={selector}")["data"]
        jobs = {s.get("job") for s in data}
        return jobs if jobs >= set(SHOP) else None

    wait_for("up series of the seven services at the engine", all_services, 60)
    request = urllib.parse.quote('http_server_request_duration_seconds_count{job="frontend"}')

    def frontend_requests():
        return get_json(f"{engine}/api/v1/series?match[]={request}")["data"]

    wait_for("the frontend's request histogram at the engine", frontend_requests, 60)
    _, _, metrics = http("GET", f"{engine}/metrics")
    written = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("aiops_ingest_samples_total{") and "remote_write" in line
    )
    if written <= 0:
        raise Failure("aiops_ingest_samples_total shows no remote-write sample")
    log(f"engine took {written:.0f} remote-written samples")

    def pushed_lines():
        _, _, text = http("GET", f"{engine}/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("aiops_ingest_log_lines_total{")
        )

    lines = wait_for("log lines pushed by the services at the engine", pushed_lines, 30)
    log(f"engine took {lines:.0f} pushed log lines")


@step("an alert fired at Alertmanager reaches the engine")
def alert():
    engine = f"http://127.0.0.1:{PORTS['AIOPS_PORT']}"
    alertmanager = f"http://127.0.0.1:{PORTS['ALERTMANAGER_PORT']}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status, _, body = http(
        "POST",
        f"{alertmanager}/api/v2/alerts",
        [
            {
                "labels": {"alertname": "ComposeE2eAlert", "service": "payments", "severity": "warning"},
                "annotations": {"summary": "fired by the compose end-to-end test"},
                "startsAt": now,
            }
        ],
    )
    if status != 200:
        raise Failure(f"alertmanager answered {status}: {body[:300]}")

    def seen():
        signals = get_json(f"{engine}/api/v1/signals?service=payments&limit=200")["data"]
        return [s for s in signals if s.get("kind") == "alert" and s.get("metric") == "ComposeE2eAlert"]

    wait_for("the alert among the engine's signals", seen, 60)


@step("a crash of the cart: restarted by Docker, a change signal and an incident at the engine")
def crash():
    engine = f"http://127.0.0.1:{PORTS['AIOPS_PORT']}"
    cart = container("cart")
    before = inspect(cart)
    try:
        http(
            "POST",
            f"http://127.0.0.1:{PORTS['CART_PORT']}/admin/chaos",
            {"kind": "crash"},
            {"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
    except (OSError, urllib.error.URLError):
        pass  # the process aborts while answering
    wait_for(
        "docker restarting the cart",
        lambda: inspect(cart)["RestartCount"] > before["RestartCount"]
        and inspect(cart)["State"]["StartedAt"] != before["State"]["StartedAt"],
        60,
        every_s=0.5,
    )

    def restart_signal():
        signals = get_json(f"{engine}/api/v1/signals?service=cart&limit=200")["data"]
        return [s for s in signals if s.get("kind") == "restart" and s.get("metric") == "docker_restart"]

    signals = wait_for("the engine's docker_restart signal for the cart", restart_signal, 60)
    log(f"engine: {signals[0].get('why')}")

    def incident():
        incidents = get_json(f"{engine}/api/v1/incidents?service=cart")["data"]
        return [
            i for i in incidents
            if "cart" in i.get("services", [])
            and any(m.get("signal", {}).get("metric") == "docker_restart" for m in i.get("signals", []))
        ]

    incidents = wait_for("an incident of the cart holding its restart", incident, 60)
    first = incidents[0]
    ranked = [c.get("service") for c in first.get("root_cause", [])]
    log(f"incident {first['id']} ({first.get('title')}): services {first.get('services')}, ranked {ranked}")
    wait_for("the cart healthy again", lambda: inspect(cart)["State"].get("Health", {}).get("Status") == "healthy", 60)


@step("a network partition: orders cut off from its peers, detected and attributed to orders")
def partition():
    engine = f"http://127.0.0.1:{PORTS['AIOPS_PORT']}"
    # not payments: the alert step's alert about it still fires
    orders = container("orders")
    # every shop service is on both networks, so a peer finds orders on
    # either: cut off from them all
    networks = sorted(inspect(orders)["NetworkSettings"]["Networks"])
    started = time.monotonic()
    for network in networks:
        run(["docker", "network", "disconnect", network, orders])
    log(f"orders disconnected from {', '.join(networks)}")
    try:
        failed = []
        for n in range(3):  # checkouts meet the partition
            status, location, _ = place_order(f"{SESSION}-cut-{n}")
            if status == 303 and location.startswith("/orders/"):
                raise Failure("an order was placed while orders was cut off")
            failed.append(status)
        log(f"checkouts while cut off answered {failed}")

        def attributed():
            incidents = get_json(f"{engine}/api/v1/incidents?service=orders")["data"]
            return [
                i for i in incidents
                if any(m.get("signal", {}).get("metric") == "docker_network_left" for m in i.get("signals", []))
                and (i.get("root_cause") or [{}])[0].get("service") == "orders"
            ]

        incident = wait_for("an incident ranking orders first, holding its network cut", attributed, 90)[0]
        took = time.monotonic() - started
        cut = next(m["signal"] for m in incident["signals"] if m.get("signal", {}).get("metric") == "docker_network_left")
        ranked = [(c.get("service"), round(c.get("score", 0), 2)) for c in incident.get("root_cause", [])]
        others = sorted({f"{m['signal'].get('service')}/{m['signal'].get('metric')}" for m in incident["signals"]} - {"orders/docker_network_left"})
        log(f"incident {incident['id']} after {took:.1f} s: ranked {ranked}")
        log(f"engine: {cut.get('why')}")
        log(f"with it: {others}")
    finally:
        # the compose service name is the container's alias on each network
        for network in networks:
            run(["docker", "network", "connect", "--alias", "orders", network, orders])
    wait_for("an order placed again once orders is back", lambda: place_order(f"{SESSION}-back")[0] == 303, 60, every_s=2)


@step("two engines: one leads, the other ingests too and takes over when the leader hangs")
def takeover():
    engines = {
        "aiops": f"http://127.0.0.1:{PORTS['AIOPS_PORT']}",
        "aiops-replica": f"http://127.0.0.1:{PORTS['AIOPS_REPLICA_PORT']}",
    }

    def metric(url, name):
        status, _, text = http("GET", f"{url}/metrics")
        if status != 200:
            return None
        values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
        return sum(values) if values else None

    def one_leader():
        leading = {name: metric(url, "aiops_leader ") for name, url in engines.items()}
        if sorted(leading.values(), key=str) == [0.0, 1.0]:
            return leading
        return None

    leading = wait_for("exactly one of the two engines leading", one_leader, 60)
    leader = next(name for name, v in leading.items() if v == 1.0)
    other = next(name for name in engines if name != leader)
    wait_for(
        f"{other} (following) ingesting remote-write samples",
        lambda: (metric(engines[other], "aiops_ingest_samples_total{") or 0) > 0,
        60,
    )
    # a hung leader (paused: it can neither renew nor act) is one that died
    # without a word; its container is not restarted, so the lease is free
    paused = container(leader)
    run(["docker", "pause", paused])
    since = time.monotonic()
    try:
        wait_for(
            f"{other} leading after {leader} hung",
            lambda: metric(engines[other], "aiops_leader ") == 1.0,
            90,
            every_s=0.5,
        )
        log(f"{other} led {time.monotonic() - since:.1f} s after {leader} was paused (lease 15 s)")
    finally:
        run(["docker", "unpause", paused], check=False)
    # back, the old leader finds the lease taken and follows
    wait_for(f"{leader} following again", lambda: metric(engines[leader], "aiops_leader ") == 0.0, 60)


def diagnostics():
    directory = os.environ.get("E2E_ARTIFACTS")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    done = compose("logs", "--no-color", "--tail", "200", check=False)
    with open(os.path.join(directory, "compose-e2e-logs.txt"), "w") as f:
        f.write(done.stdout or "")
    log(f"container logs in {directory}/compose-e2e-logs.txt")


def teardown():
    log("tearing down: containers, networks, volumes")
    compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
    label = f"label=com.docker.compose.project={PROJECT}"
    left = {
        kind: run(["docker", kind, "ls", "-q", "--filter", label], check=False).stdout.split()
        for kind in ["container", "network", "volume"]
    }
    left["container"] = run(["docker", "ps", "-aq", "--filter", label], check=False).stdout.split()
    if any(left.values()):
        raise Failure(f"left behind after down: {left}")


def main():
    def on_signal(signum, _frame):
        raise Failure(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    report = {"left_out": LEFT_OUT}
    failed = False
    try:
        prerequisites()
        report["image_bytes"] = build_images()
        up_s, healthy_at = cold_up()
        report["cold_up_to_healthy_s"] = round(up_s, 1)
        report["healthy_after_s"] = healthy_at
        time.sleep(20)
        memory = idle_memory()
        report["idle_memory_bytes"] = memory
        report["idle_memory_total_bytes"] = sum(memory.values())
        checkout()
        remote_write()
        alert()
        crash()
        partition()
        takeover()
    except Exception as e:  # every failure is reported, then torn down
        failed = True
        log(f"FAILED: {e}")
        try:
            diagnostics()
        except Exception as d:
            log(f"no diagnostics: {d}")
    finally:
        try:
            teardown()
            results.append(("teardown: nothing left behind", True, ""))
        except Exception as e:
            failed = True
            results.append(("teardown: nothing left behind", False, str(e)))
            log(f"FAILED: {e}")
    for name, ok, detail in results:
        log(f"  {'PASS' if ok else 'FAIL'}  {name}  {detail}")
    if "image_bytes" in report:
        for image, size in report["image_bytes"].items():
            log(f"  image {image}: {size / 1e6:.1f} MB")
    if "cold_up_to_healthy_s" in report:
        log(f"  cold up to all healthy: {report['cold_up_to_healthy_s']} s")
    if "idle_memory_total_bytes" in report:
        for name, used in sorted(report["idle_memory_bytes"].items()):
            log(f"  idle memory {name}: {used / 2**20:.1f} MiB")
        log(f"  idle memory, whole stack: {report['idle_memory_total_bytes'] / 2**20:.1f} MiB")
    directory = os.environ.get("E2E_ARTIFACTS")
    if directory:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "compose-e2e.json"), "w") as f:
            json.dump(report, f, indent=2)
    passed = sum(1 for _, ok, _ in results if ok)
    print(f"compose-e2e: {passed} passed, {len(results) - passed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
