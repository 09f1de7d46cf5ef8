"""The alert forwarder Lambda: handler.py is deployed alone (infra/components/alerting.py)."""
