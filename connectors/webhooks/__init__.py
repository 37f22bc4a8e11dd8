"""Inbound webhooks from channel providers: signature checks, a durable spool, landing in the warehouse."""
