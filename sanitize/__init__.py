"""sanitize: make police photos and videos safe to post (UP Police Social Media Policy 2023)."""

__version__ = "0.3.0"
