"""Command-line edge and composition root of bpa (nothing imports it)."""
