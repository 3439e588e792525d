"""optibridge: keeps an Optimove account in step with a Comm100 site."""

__version__ = "0.1.0"
