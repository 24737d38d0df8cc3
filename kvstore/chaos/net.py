"""The chaos network: a fault-injecting proxy on every peer link and client link.

For nodes 1..n with real listen addresses, `ChaosNet` runs
- one proxy per directed peer link (a, b): node a dials node b through it, so
  node a's `[dial]` table says b = <proxy a->b>. A Raft stream a->b carries
  a's messages to b; b's replies travel on b's own stream b->a, so cutting one
  direction is a real one-way fault;
- given the nodes' raw TCP Raft listeners (`raft_addrs`), a second proxy per
  directed peer link for those (node a's `[raft_dial]`), cut and healed with
  the first, so the faults hit the transport nodes really use;
- one proxy per client link (CLIENT, b): the chaos clients reach node b only
  through it; given the nodes' raw client-link listeners (`link_addrs`), a
  second one for those, cut and healed with the first, so the clients' faults
  hit the raw batch links they really use.

`cut(links, mode)` blocks exactly the given links and opens every other one;
`heal()` opens all. Invariant: the set of blocked links is always exactly
what the last `cut` named (faults never stack silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kvstore.chaos.proxy import LinkProxy, LinkState

#: The source id of client links: node ids start at 1.
CLIENT = 0

Link = tuple[int, int]


class ChaosNet:
    def __init__(self, node_addrs: Mapping[int, str],
                 raft_addrs: Mapping[int, str] | None = None,
                 link_addrs: Mapping[int, str] | None = None) -> None:
        self.node_addrs = dict(sorted(node_addrs.items()))
        self.proxies: dict[Link, LinkProxy] = {}
        self.raft_proxies: dict[Link, LinkProxy] = {}
        self.link_proxies: dict[Link, LinkProxy] = {}
        for b, addr in self.node_addrs.items():
            for a in [CLIENT, *self.node_addrs]:
                if a != b:
                    name = f"{'client' if a == CLIENT else a}->{b}"
                    self.proxies[(a, b)] = LinkProxy(name, addr)
                    if raft_addrs and a != CLIENT:
                        self.raft_proxies[(a, b)] = LinkProxy(f"{name} raft", raft_addrs[b])
                    if link_addrs and a == CLIENT:
                        self.link_proxies[(a, b)] = LinkProxy(f"{name} link", link_addrs[b])
        self.blocked: frozenset[Link] = frozenset()

    def _all(self) -> list[tuple[Link, LinkProxy]]:
        return [*self.proxies.items(), *self.raft_proxies.items(), *self.link_proxies.items()]

    async def start(self) -> None:
        try:
            for _, proxy in self._all():
                await proxy.start()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        for _, proxy in self._all():
            await proxy.aclose()

    async def __aenter__(self) -> ChaosNet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def peer_addresses(self) -> dict[int, dict[int, str]]:
        """For each node, the address it must dial for each peer (its proxies)."""
        return {a: {b: self.proxies[(a, b)].address for b in self.node_addrs if b != a}
                for a in self.node_addrs}

    def raft_peer_addresses(self) -> dict[int, dict[int, str]]:
        """For each node, the address it must dial for each peer's raw Raft listener."""
        return {a: {b: p.address for (x, b), p in self.raft_proxies.items() if x == a}
                for a in self.node_addrs if self.raft_proxies}

    def client_link_addresses(self) -> dict[int, str]:
        """Node id -> the address the chaos clients use for its raw batch link."""
        return {b: p.address for (_, b), p in self.link_proxies.items()}

    def client_addresses(self) -> dict[int, str]:
        """Node id -> the address the chaos clients use to reach it."""
        return {b: self.proxies[(CLIENT, b)].address for b in self.node_addrs}

    def cut(self, links: Iterable[Link], mode: LinkState = LinkState.DROP) -> None:
        """Block exactly `links` (DROP or BLACKHOLE); open every other link."""
        if mode is LinkState.OPEN:
            raise ValueError("cut needs DROP or BLACKHOLE; use heal() to open links")
        wanted = frozenset(links)
        unknown = wanted - self.proxies.keys()
        if unknown:
            raise ValueError(f"unknown links {sorted(unknown)}")
        for link, proxy in self._all():
            proxy.set_state(mode if link in wanted else LinkState.OPEN)
        self.blocked = wanted

    def heal(self) -> None:
        for _, proxy in self._all():
            proxy.set_state(LinkState.OPEN)
        self.blocked = frozenset()

    def stats(self) -> dict[str, dict[str, int]]:
        return {p.name: {"accepted": p.accepted, "refused": p.refused,
                         "bytes": p.bytes_forwarded} for _, p in self._all()}
