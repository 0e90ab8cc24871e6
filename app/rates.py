"""Per-tenant request rates: one customer's bulk import cannot starve the others (429).

A token bucket per tenant in each worker process, refilled at the tenant's rate divided by the
number of workers (`SCIM_WORKERS`, which `make serve` sets), so the server as a whole admits
about the tenant's rate; a burst of one second's worth is allowed. A tenant's own rate
(`python -m app.tenants rate`) wins over `SCIM_TENANT_RATE_LIMIT`; 0 or nothing means no limit.
Okta honours 429 and retries after `Retry-After`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from app import config, errors, tenant_store

RATE_READ_EVERY = 10.0  # seconds a worker trusts a tenant's own rate it read


@dataclass
class _Bucket:
    rate: float  # requests per second this worker admits
    tokens: float
    stamp: float  # when `tokens` was last brought up to date
    read: float  # when `rate` was read


_buckets: dict[str, _Bucket] = {}


def admit(tenant: str) -> None:
    """Take one request from the tenant's bucket, or answer 429 with Retry-After."""
    moment = time.monotonic()
    bucket = _buckets.get(tenant)
    if bucket is None or moment - bucket.read > RATE_READ_EVERY:
        rate = _rate(tenant)
        bucket = _Bucket(rate, bucket.tokens if bucket else rate, moment, moment)
        _buckets[tenant] = bucket
    if bucket.rate <= 0:
        return
    bucket.tokens = min(bucket.rate, bucket.tokens + (moment - bucket.stamp) * bucket.rate)
    bucket.stamp = moment
    if bucket.tokens < 1:
        wait = math.ceil((1 - bucket.tokens) / bucket.rate)
        raise errors.TooManyRequests(
            f"tenant {tenant!r} is over its request rate; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    bucket.tokens -= 1


def _rate(tenant: str) -> float:
    settings = config.get()
    own = tenant_store.rate_limit(tenant)
    rate = own if own is not None else settings.tenant_rate_limit
    return rate / max(settings.workers, 1) if rate else 0.0
