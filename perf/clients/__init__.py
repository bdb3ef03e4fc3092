"""Benchmark clients, one module per library; each runs in its own process (see ``__main__``)."""

from __future__ import annotations

#: client name -> (module, entry function taking ``common.Args``)
CLIENTS: dict[str, tuple[str, str]] = {
    "raw": ("perf.clients.raw_client", "run"),
    "boomnet": ("perf.clients.boomnet_client", "run"),
    "boomnet-epoll": ("perf.clients.boomnet_service_client", "run_epoll"),
    "boomnet-direct": ("perf.clients.boomnet_service_client", "run_direct"),
    "boomnet-uring": ("perf.clients.boomnet_service_client", "run_uring"),
    "boomnet-epoll-wait": ("perf.clients.boomnet_service_client", "run_epoll_wait"),
    "picows": ("perf.clients.picows_client", "run"),
    "aiohttp": ("perf.clients.aiohttp_client", "run"),
    "websockets": ("perf.clients.websockets_client", "run_async"),
    "websockets-sync": ("perf.clients.websockets_client", "run_sync"),
    "websocket-client": ("perf.clients.websocket_client_client", "run"),
}

#: what each client can do (the raw byte counter only blasts)
JOBS: dict[str, tuple[str, ...]] = {
    "raw": ("blast",),
}
ALL_JOBS = ("blast", "echo", "alloc")


def supports(client: str, job: str) -> bool:
    return job in JOBS.get(client, ALL_JOBS)
