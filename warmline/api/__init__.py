"""The gRPC APIs: the specialist service (`server.py`), its backend (`desk.py`) and its auth."""
