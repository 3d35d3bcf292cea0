"""Tests of bpa: the tree mirrors the packages; shared helpers live in tests/support/."""
