"""Notifications to other systems: subscriptions (routes, service, urls), the event outbox
written with each change of a claim (outbox), and their delivery (delivery, worker, signing)."""
