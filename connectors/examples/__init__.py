"""Example connectors: small, complete, and run by the tests exactly as documented."""
