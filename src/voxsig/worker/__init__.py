"""The delivery worker: claim due deliveries, sign and send them, record each attempt."""
