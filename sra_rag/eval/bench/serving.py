"""The serving check: replicas under concurrent requests, one stopped mid-load, no request lost.

Ray starts on this machine inside a user and network namespace of its own (`unshare`), where
loopback is the only interface: Ray's internal ports and the HTTP route are reachable from nowhere
else. A deployment (`sra_rag.serve:RagServer`, `langchain_sra.serve:ChatServer`) runs with its
replicas; the requests go concurrently to its HTTP route; `--kill-delay` seconds after the
`--kill-after`-th answer, the replica that gave it is stopped (`ray.kill`) while it works on the
next request (more requests are in flight than there are replicas, so a freed replica takes the
next at once). A request whose
replica died is sent again (at most `--attempts` times). Every answer is compared with the same
deployment class's answer in-process, on the same number of threads. The figures go to `--out`.

    python -m sra_rag.eval.bench.serving --demo 8 --out docs/results/serve_rag_smollm2.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..provenance import provenance

logger = logging.getLogger(__name__)

ISOLATED = "SRA_RAG_SERVE_ISOLATED"
"""Set inside the namespace, so the command does not isolate itself twice."""
APP = "check"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def isolate(argv: list[str]) -> None:
    """Re-run this command in a user and network namespace whose only interface is loopback."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SystemExit("the serving check needs util-linux's unshare (or pass --no-isolate)")
    namespace = [unshare, "--user", "--map-root-user", "--net"]
    tried = subprocess.run([*namespace, "true"], capture_output=True, text=True, timeout=30)
    if tried.returncode != 0:
        raise SystemExit(
            f"this machine refuses a user and network namespace ({tried.stderr.strip()}): allow "
            "unprivileged user namespaces, or pass --no-isolate to run Ray on its interfaces"
        )
    os.execve(
        unshare, [*namespace, sys.executable, "-m", __spec__.name, *argv], {**os.environ, ISOLATED: "1"}
    )


def loopback_up() -> None:
    """Bring up `lo`, which a new network namespace starts with down (the ioctl `ip link set lo up`
    makes, so the check needs no iproute2)."""
    import fcntl
    import socket
    import struct

    get_flags, set_flags, up = 0x8913, 0x8914, 0x1  # SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP
    ifreq = "16sH22x"  # Linux's struct ifreq: the name, then a union of 24 bytes (here its flags)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack(ifreq, fcntl.ioctl(sock, get_flags, struct.pack(ifreq, b"lo", 0)))[1]
        fcntl.ioctl(sock, set_flags, struct.pack(ifreq, b"lo", flags | up))


def post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Client:
    """Sends each body until it is answered (at most `attempts` times, `timeout` s each); counts
    answers so the stopper knows when to act."""

    def __init__(self, url: str, attempts: int, timeout: float) -> None:
        self.url, self.attempts, self.timeout = url, attempts, timeout
        self.answered: list[dict[str, Any]] = []
        self.retried = 0
        self.errors: list[str] = []
        self.changed = threading.Condition()

    def send(self, body: dict[str, Any]) -> dict[str, Any] | None:
        for attempt in range(self.attempts):
            try:
                answer = post(self.url, body, self.timeout)
            except urllib.error.HTTPError as error:
                self._failed(f"HTTP {error.code}: {error.read()[:200]!r}")
                if error.code < 500:  # the request itself is wrong: sending it again cannot help
                    return None
            except OSError as error:  # URLError among them: no connection, a reset, a timeout
                self._failed(str(error))
            else:
                with self.changed:
                    self.retried += attempt > 0
                    self.answered.append(answer)
                    self.changed.notify_all()
                return answer
            time.sleep(1.0)
        return None

    def _failed(self, error: str) -> None:
        with self.changed:
            self.errors.append(error)

    def wait_for(self, count: int, deadline: float) -> dict[str, Any] | None:
        """The `count`-th answer, once it came (None if it did not before `deadline`)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.answered) >= count, max(0.0, deadline - time.monotonic()))
            return self.answered[count - 1] if len(self.answered) >= count else None


def stop_replica(deployment_name: str, replica: str) -> dict[str, Any]:
    """Stop the Serve replica with this id for good (Serve starts a new one in its place): its
    actor's name, and how many requests it held just before (Serve's replica actor reports it)."""
    import ray

    name = f"SERVE_REPLICA::{APP}#{deployment_name}#{replica}"
    actor = ray.get_actor(name, namespace="serve")
    held = ray.get(actor.get_num_ongoing_requests.remote(), timeout=30)
    ray.kill(actor, no_restart=True)
    return {"actor": name, "held_requests": held}


def wait_for_replicas(deployment_name: str, count: int, timeout: float) -> float:
    """Seconds until `count` replicas of the deployment run (Serve replacing a stopped one)."""
    from ray import serve

    started = time.monotonic()
    while True:
        states = serve.status().applications[APP].deployments[deployment_name].replica_states
        if states.get("RUNNING", 0) >= count:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"Serve did not bring {deployment_name} back to {count} replicas: {states}")
        time.sleep(0.5)


def exact(answer: dict[str, Any]) -> dict[str, Any]:
    """The fields that must equal the in-process answer."""
    from ...serve import VOLATILE_FIELDS

    return {k: v for k, v in answer.items() if k not in VOLATILE_FIELDS}


def deployment(path: str) -> Any:
    """The Serve deployment at `module:Name`."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run(
    deployment_path: str,
    deployment_args: dict[str, Any],
    bodies: list[dict[str, Any]],
    *,
    kill_after: int,
    kill_delay: float,
    concurrency: int,
    attempts: int,
    timeout: float,
    port: int,
) -> dict[str, Any]:
    """Serve, load, stop a replica, compare: the figures."""
    import ray
    from ray import serve

    from ...serve import bind

    served = deployment(deployment_path)
    args = served.func_or_class.Args.model_validate(deployment_args)
    started = time.perf_counter()
    reference_server = served.func_or_class(args)  # the same class, in this process
    # through JSON, as a served reply comes: a tuple in-process is a list there
    expected = [json.loads(json.dumps(exact(reference_server.respond(body)))) for body in bodies]
    reference_s = time.perf_counter() - started
    del reference_server

    ray.init(
        num_cpus=max(2, int(args.num_cpus * args.num_replicas)),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=256 * 2**20,
        runtime_env={"env_vars": OFFLINE},
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        started = time.perf_counter()
        serve.run(bind(served, args), name=APP, route_prefix="/")
        ready_s = time.perf_counter() - started
        client = Client(f"http://127.0.0.1:{port}/", attempts, timeout)
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(client.send, body) for body in bodies]
            last = client.wait_for(kill_after, time.monotonic() + timeout * attempts)
            if last is None:
                raise RuntimeError(
                    f"no {kill_after} answers within {timeout * attempts:.0f} s: {client.errors}"
                )
            time.sleep(kill_delay)
            stopped = stop_replica(served.name, last["replica"])
            answers = [f.result() for f in futures]
        serve_s = time.perf_counter() - started
        replaced_s = wait_for_replicas(served.name, args.num_replicas, timeout)
    finally:
        serve.shutdown()
        ray.shutdown()
    equal = [a is not None and exact(a) == e for a, e in zip(answers, expected, strict=True)]
    return {
        "deployment": deployment_path,
        "args": args.model_dump(),
        "requests": len(bodies),
        "replicas": args.num_replicas,
        "concurrency": concurrency,
        "answered": sum(a is not None for a in answers),
        "answers_equal": sum(equal),
        "lost": sum(a is None for a in answers),
        "retried": client.retried,
        "errors_seen": client.errors,
        "stopped_replica": {**stopped, "after_answers": kill_after, "delay_s": kill_delay},
        "replicas_answering": len({a["replica"] for a in answers if a is not None}),
        "replaced_after_s": replaced_s,
        "unequal": [
            {"body": b, "served": a, "in_process": e}
            for b, a, e, ok in zip(bodies, answers, expected, equal, strict=True)
            if not ok
        ],
        "seconds": {"in_process": reference_s, "ready": ready_s, "served": serve_s},
        "ray": importlib.import_module("ray").__version__,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }


def run_check(options: list[str], folder: Path, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """This check with `options` in a process of its own (which isolates itself), run in `folder`:
    its figures (None if it wrote none) and its output."""
    out = folder / "figures.json"
    command = [sys.executable, "-m", "sra_rag.eval.bench.serving", *options, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=folder)
    figures = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return figures, done.stdout[-2000:] + done.stderr[-3000:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__)
    parser.add_argument("--deployment", default="sra_rag.serve:RagServer", help="module:Deployment")
    parser.add_argument("--args", default="{}", help="the deployment's arguments (JSON)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bodies", type=Path, help="request bodies, one JSON object a line")
    source.add_argument("--demo", type=int, help="the first N demo questions, on the demo index")
    parser.add_argument("--index", type=Path, help="where --demo keeps the demo index (default: the cache)")
    parser.add_argument("--replicas", type=int, default=2, help="the deployment's num_replicas")
    parser.add_argument("--kill-after", type=int, default=2, help="answers before a replica is stopped")
    parser.add_argument("--kill-delay", type=float, default=1.0, help="seconds after that answer")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--attempts", type=int, default=3, help="sends per request at most")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per send")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-isolate", action="store_true", help="run Ray in this network namespace")
    parser.add_argument("--out", type=Path, required=True, help="the figures (JSON)")
    args = parser.parse_args(argv)
    deployment_args = json.loads(args.args)
    if "num_replicas" in deployment_args:
        parser.error("give the number of replicas as --replicas, not in --args")
    if args.concurrency <= args.replicas:
        parser.error("--concurrency must exceed --replicas: a freed replica must have a request waiting")
    if args.bodies is not None:
        lines = args.bodies.read_text(encoding="utf-8").splitlines()
        bodies = [json.loads(line) for line in lines if line.strip()]
    count = args.demo if args.demo is not None else len(bodies)
    if not 1 <= args.kill_after < count:
        parser.error(f"--kill-after must be in [1, {count - 1}]: a replica stops while requests remain")
    if not args.no_isolate and not os.environ.get(ISOLATED):
        isolate(argv)
    if os.environ.get(ISOLATED):
        loopback_up()
    os.environ.update(OFFLINE)
    logging.basicConfig(level=logging.WARNING)
    deployment_args["num_replicas"] = args.replicas
    if args.demo is not None:
        from ...demo import demo_index_folder
        from ...rag import Embedder, demo_corpus_dir, demo_questions, index_folder

        server = deployment(args.deployment).func_or_class
        bodies = [server.body_for(q.question) for q in demo_questions()[: args.demo]]
        if "index" in server.Args.model_fields and "index" not in deployment_args:
            index = demo_index_folder(args.index)
            index_folder(demo_corpus_dir(), index, Embedder())  # kept where it is there and current
            deployment_args["index"] = str(index)
    figures = run(
        args.deployment,
        deployment_args,
        bodies,
        kill_after=args.kill_after,
        kill_delay=args.kill_delay,
        concurrency=args.concurrency,
        attempts=args.attempts,
        timeout=args.timeout,
        port=args.port,
    )
    report = {"provenance": provenance(), **figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(
        f"wrote {args.out}: {report['requests']} requests to {report['replicas']} replicas, "
        f"{report['answers_equal']} answers equal to in-process, {report['lost']} lost, "
        f"{report['retried']} sent again after a replica was stopped\n"
    )
    return 0 if report["lost"] == 0 and report["answers_equal"] == report["requests"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
