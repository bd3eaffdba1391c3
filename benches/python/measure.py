"""The measurement both Python drivers share: one warm-up flow, then `flows` flows on
`concurrency` threads; prints one JSON line with wall and process CPU seconds, like the Rust
driver (benches/src/bin/uma_flows.rs)."""
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor


def run(client: str, flow, flows: int, concurrency: int) -> None:
    flow(0)  # warm-up
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(flow, range(flows)))
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"client": client, "flows": flows, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}))
