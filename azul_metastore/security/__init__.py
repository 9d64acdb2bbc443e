"""Security labels, caller access and authentication."""
