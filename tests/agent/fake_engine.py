#!/usr/bin/env python3
"""fake_engine.py - stands in for vLLM, SGLang and llama.cpp in the engine tests.

Answers `--version` like `vllm --version` (FAKE_ENGINE_VERSION, default 0.11.0). Otherwise it
reads the port from `--port`, appends one JSON line with its pid, argv and the environment the
agent set (CUDA_VISIBLE_DEVICES, VRAMPACK_*) to $FAKE_ENGINE_LOG, and serves HTTP on
0.0.0.0:PORT: GET /health answers 503 while the "model loads" (FAKE_ENGINE_LOAD_MS, default
500) and 200 after, like llama-server; with FAKE_ENGINE_BIND_LATE=1 it binds only once loaded,
like vLLM (connection refused meanwhile). It logs a line to stdout every 200 ms and, like a real
engine, keeps running when its stdout pipe closes (the agent was killed): SIGPIPE is ignored and
write errors are swallowed. SIGTERM ends it (exit 0, after appending {"pid", "exit": time} to the log).

Misbehaviour on request, through its arguments (engine_args in a manifest):
  --fake-crash            exits 3 after FAKE_ENGINE_CRASH_MS (default 100) with a reason on stderr
The same crash happens when $FAKE_ENGINE_FAIL_FILE has a line "NODE PLACEMENT" naming this
engine's VRAMPACK_NODE and VRAMPACK_PLACEMENT: a GPU that went bad under a running placement.
  --fake-never-ready      /health never answers 200
  --fake-unhealthy-after=MS  /health answers 500 from MS after it was ready
"""
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time


def arg_after(argv, flag):
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


def main():
    argv = sys.argv[1:]
    if argv == ["--version"] or argv == ["version"]:
        print("INFO fake engine: detected platform cpu", file=sys.stderr)
        print(os.environ.get("FAKE_ENGINE_VERSION", "0.11.0"))
        return 0
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log = os.environ.get("FAKE_ENGINE_LOG")

    def on_term(*_):
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "exit": time.time()}) + "\n")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    port = int(arg_after(argv, "--port") or "0")
    record = {
        "pid": os.getpid(),
        "argv": [os.path.basename(sys.argv[0])] + argv,
        "port": port,
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("VRAMPACK_") or k == "CUDA_VISIBLE_DEVICES"},
        "t": time.time(),
    }
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(record) + "\n")
    me = "%s %s" % (os.environ.get("VRAMPACK_NODE", "?"), os.environ.get("VRAMPACK_PLACEMENT", "?"))
    fail_file = os.environ.get("FAKE_ENGINE_FAIL_FILE")
    doomed = False
    if fail_file and os.path.exists(fail_file):
        with open(fail_file) as f:
            doomed = me in (line.strip() for line in f)
    if "--fake-crash" in argv or doomed:
        time.sleep(int(os.environ.get("FAKE_ENGINE_CRASH_MS", "100")) / 1000.0)
        print("fake engine: CUDA error: out of memory (asked to crash)", file=sys.stderr)
        return 3
    if not port:
        print("fake engine: no --port given", file=sys.stderr)
        return 2

    load_s = int(os.environ.get("FAKE_ENGINE_LOAD_MS", "500")) / 1000.0
    started = time.time()
    never = "--fake-never-ready" in argv
    sick_after = arg_after(argv, "--fake-unhealthy-after")
    sick_s = int(sick_after) / 1000.0 if sick_after else None

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            now = time.time()
            loaded = not never and now - started >= load_s
            if sick_s is not None and loaded and now - started - load_s >= sick_s:
                code = 500
            elif self.path == "/health":
                code = 200 if loaded else 503
            elif self.path == "/v1/models" and loaded:
                code = 200
            else:
                code = 404 if loaded else 503
            body = json.dumps({"pid": os.getpid(), "port": port}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    if os.environ.get("FAKE_ENGINE_BIND_LATE") == "1":
        time.sleep(load_s)
    try:
        srv = Server(("0.0.0.0", port), Health)
    except OSError as e:
        print("fake engine: cannot bind port %d: %s" % (port, e), file=sys.stderr)
        return 1
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    n = 0
    while True:
        n += 1
        try:
            print("INFO fake engine: step %d" % n, flush=True)
        except (BrokenPipeError, OSError):
            pass  # the agent is gone; a real engine keeps serving
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
