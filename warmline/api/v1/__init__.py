"""Generated modules of the warmline.v1 protos (see warmline/api/generate.py)."""
