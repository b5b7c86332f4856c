"""The read model of the API: what each object's JSON needs (snapshot.py), and the one builder
of each object's JSON (payloads.py: webhook events and REST answers; webhooks.py: endpoints,
deliveries, attempts)."""
