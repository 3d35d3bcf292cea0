"""Ingestion: read sources, parse HTML into outlined documents, chunk, embed, publish a snapshot."""
