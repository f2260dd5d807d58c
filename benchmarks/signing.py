"""Signed-request throughput: raw Ed25519 verification versus `verify_request`.

Prints one table measured in one run: raw verifications per second with `cryptography`, signed
requests verified per second through `loopnode.protocol.request_signing.verify_request` with an
in-memory key lookup, and their ratio (target: at least 50 % of raw).

    python benchmarks/signing.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from loopnode.protocol import keys
from loopnode.protocol.request_signing import sign_request, verify_request
from loopnode.protocol.trust import KeyRecord, TrustStore

NODE, PEER = "munich.loop", "berlin.loop"
BODY = b'{"@context":"https://example.org","material_id":"MAT-DE-MUC-2025-PLASTIC-B847F3"}' * 4
PATH = "/api/v1/federate/offer?trace=1"


def rates(operations: list[Callable[[], object]], seconds: float) -> list[float]:
    """Operations per second of each operation, measured in interleaved short rounds.

    Interleaving makes both figures see the same machine load, so their ratio stays fair on a
    busy host.
    """
    for operation in operations:
        for _ in range(200):  # warm-up: caches, key parsing
            operation()
    counts, spent = [0] * len(operations), [0.0] * len(operations)
    while min(spent) < seconds:
        for index, operation in enumerate(operations):
            start = time.perf_counter()
            for _ in range(200):
                operation()
            spent[index] += time.perf_counter() - start
            counts[index] += 200
    return [count / elapsed for count, elapsed in zip(counts, spent, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    seconds = parser.parse_args().seconds

    key = keys.generate_private_key()
    raw = keys.public_raw(key)
    key_id = keys.key_id(raw, NODE)
    store = TrustStore.of([KeyRecord(NODE, key_id, raw)])
    now = datetime.now(UTC)
    headers = sign_request(
        key=key,
        key_id=key_id,
        node_id=NODE,
        target_node_id=PEER,
        method="POST",
        path_with_query=PATH,
        body=BODY,
        now=now,
    )
    public = key.public_key()
    message, signature = b"x" * 200, key.sign(b"x" * 200)

    def raw_verify() -> None:
        public.verify(signature, message)

    def request_verify() -> None:
        verify_request(
            headers,
            method="POST",
            path_with_query=PATH,
            body=BODY,
            receiver_node_id=PEER,
            now=now,
            lookup_key=store.lookup,
            node_known=store.knows_node,
        )

    raw_rate, request_rate = rates([raw_verify, request_verify], seconds)
    ratio = request_rate / raw_rate
    print(f"{'measurement':<44}{'per second':>14}")
    print(f"{'raw Ed25519 verify (cryptography)':<44}{raw_rate:>14,.0f}")
    print(f"{'signed requests via verify_request':<44}{request_rate:>14,.0f}")
    print(f"{'ratio (target >= 50 %)':<44}{ratio:>13.1%}")


if __name__ == "__main__":
    main()
