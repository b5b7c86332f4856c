"""The outbox: everything after a change. Publishing (event and delivery rows, in the change's
transaction), the wake-up after commit, the endpoints deliveries go to, claims, signing, the
one outbound HTTP client and its SSRF guard, retry policy, outcomes, replay, the worker loop and
its runtime, retention."""
