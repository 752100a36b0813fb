"""Explain a resolution hop by hop: what an operator reads when the address in the logs looks wrong.

The answer always comes from :meth:`~realip.Resolver.resolve`; this module only annotates the entries that the walk
examined (``result.examined`` of them), so the explanation cannot disagree with the resolver.
"""

from __future__ import annotations

from typing import NamedTuple

from ._walk import entries_from_right, entry_text
from .resolver import Headers, Peer, Reason, Resolver, Result

__all__ = ["Explanation", "Step", "explain"]

_WHY = {
    Reason.UNTRUSTED_PEER: "the peer is not a trusted proxy, so no header was read",
    Reason.NO_HEADER: "the peer is trusted but sent no {header} header: nothing to walk",
    Reason.UNTRUSTED_ENTRY: "stopped at the first address not in the trusted networks: that is the client",
    Reason.INVALID_ENTRY: "stopped at an entry that is not an address: the client is the last address reached",
    Reason.HOP_LIMIT: "stopped after max_hops={max_hops} trusted entries: the client is the last one examined",
    Reason.ALL_TRUSTED: "every entry is trusted: the client is the leftmost",
    Reason.HOP_COUNT: "hop-count mode: the client is entry {hops} from the right",
    Reason.SHORT_CHAIN: "hop-count mode: fewer than {hops} entries, so the client is the peer",
    Reason.LAYER4: "the Layer-4 load balancer carried the client, and it is not a trusted proxy: that is the client",
    Reason.NO_LAYER4: "the peer is a Layer-4 load balancer that carried no client (a health check?): its headers are "
    "the client's own bytes, so none was read",
    Reason.PROVIDER_HEADER: "the hop next to the client is {hop}, which writes the client into {source}: that is "
    "the client",
}


class Step(NamedTuple):
    """One hop of the walk: position 0 is the socket peer, 1 the rightmost header entry, and so on."""

    position: int
    source: str
    text: str | None
    address: str | None
    port: int | None
    verdict: str  # trusted, untrusted, invalid, unix, or not-checked (hop-count mode)


class Explanation(NamedTuple):
    """The result together with the hops that led to it and a sentence saying why the walk ended there."""

    result: Result
    steps: tuple[Step, ...]
    why: str
    #: The chain of named hops (``chain`` mode), from the client inwards; else ``None``.
    chain: str | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (``realip explain --json`` and ``realip serve``)."""
        result = self.result._asdict()
        result["reason"] = str(self.result.reason)
        result["proxies"] = list(self.result.proxies)
        steps = [step._asdict() for step in self.steps]
        answer: dict[str, object] = {"result": result, "steps": steps, "why": self.why}
        if self.chain is not None:
            answer["chain"] = self.chain
        return answer

    def text(self) -> str:
        """A readable, one-line-per-hop account."""
        lines = [] if self.chain is None else [f"chain: {self.chain}"]
        for step in self.steps:
            where = "peer" if step.position == 0 else f"#{step.position} {step.source}"
            shown = step.text if step.text is not None else "(no address)"
            lines.append(f"  {where:<24} {shown!s:<40} {step.verdict}")
        r = self.result
        port = f" port {r.client_port}" if r.client_port is not None else ""
        scheme = f", scheme {r.scheme}" if r.scheme else ""
        lines.append(f"client: {r.client_ip}{port} (source: {r.source}{scheme})")
        lines.append(f"why:    {self.why}")
        return "\n".join(lines)


def explain(resolver: Resolver, peer: Peer, headers: Headers, layer4: tuple[str, Peer] | None = None) -> Explanation:
    """Resolve and annotate every hop the walk examined (``layer4`` as :meth:`~realip.Resolver.resolve` takes it)."""
    if not isinstance(headers, (list, tuple, dict)) and not hasattr(headers, "items"):
        headers = list(headers)  # it is read twice
    result = resolver.resolve(peer, headers, layer4)
    peer_ip, _, trusted, is_ip = resolver.peer(peer)
    if peer is None:
        peer_verdict = "unix socket, " + ("trusted" if trusted else "untrusted")
    elif not is_ip:
        peer_verdict = "not an IP address, untrusted"
    else:
        peer_verdict = "trusted" if trusted else "untrusted"
    if resolver.is_balancer(peer_ip) and (peer is None or is_ip):
        peer_verdict = "a Layer-4 load balancer" + (", and trusted" if trusted else "")
    found = resolver.values(headers) if result.examined else None
    entries = entries_from_right(resolver._order, found, result.examined) if found is not None else []
    hops = resolver.hop_names(peer_ip, [entry_text(source, item) for source, item in entries])
    if hops and hops[0] is not None:
        peer_verdict += f" ({hops[0]})"
    steps = [Step(0, "peer", None if peer is None else str(peer_ip), peer_ip, result.peer_port, peer_verdict)]
    if entries:
        for position, (source, item) in enumerate(entries, start=1):
            text = entry_text(source, item)
            address = resolver.entry(text) if text is not None else None
            if resolver.trusted_hops is not None and position < len(entries):
                verdict = "not checked (a counted hop)"
            elif address is None:
                verdict = "invalid"
            elif resolver.trusted_hops is not None:
                verdict = "the client (hop count)"
            elif hops:  # chain mode: trusted only as the hop the walk is at, or one further out
                hop = hops[position] if position < len(hops) else None
                verdict = f"trusted ({hop})" if hop is not None else "untrusted"
            else:
                verdict = "trusted" if address[2] else "untrusted"
            steps.append(
                Step(
                    position,
                    source,
                    text,
                    address[0] if address else None,
                    address[1] if address else None,
                    verdict,
                )
            )
    writer = next((hop for hop in reversed(hops) if hop is not None), None) if hops else None
    if result.reason is Reason.PROVIDER_HEADER:
        steps.append(
            Step(
                len(steps),
                result.source,
                result.client_ip,
                result.client_ip,
                result.client_port,
                f"the client, as {writer} wrote it",
            )
        )
    why = _WHY[result.reason].format(
        header=" or ".join(resolver.header),
        max_hops=resolver.max_hops,
        hops=resolver.trusted_hops,
        hop=writer,
        source=result.source,
    )
    return Explanation(result, tuple(steps), why, resolver.chain_text())
