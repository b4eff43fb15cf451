"""Service enquiries answered from curated FAQ: the store, retrieval, its tables and the CLI."""
