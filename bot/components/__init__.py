"""Custom Rasa NLU components for Chinese. Modules without `rasa` imports (normalizers, zh_pipeline)
are shared with the action server, eval and benchmarks."""
