"""What maintainers run, never on the request path: evaluation, the publish gate, the gap report."""
