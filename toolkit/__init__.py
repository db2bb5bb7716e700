"""toolkit: annotation and classifier training for Chinese financial and tech news.

The CLI (``toolkit ...``) is a thin layer over these functions, so notebooks can import the same API.
"""

__version__ = "0.1.0"
