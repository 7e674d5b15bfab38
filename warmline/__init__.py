"""warmline: human–AI collaboration for emotionally demanding customer work."""

__version__ = "0.1.0"
