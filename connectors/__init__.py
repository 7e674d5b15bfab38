"""Connectors that carry warmline's events to CRM and HR systems and feed inbound events back."""
