"""bianmin (便民): resident-services assistant. Core: settings, logging with PII masking, DB engine, CLI, supervisor."""

__version__ = "0.1.0"
