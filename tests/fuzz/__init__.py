"""Coverage-guided fuzzing with atheris: the targets (targets.py), their seed corpora
(corpus/<target>/), the inputs of every crash found (regressions/<target>/), the runner
(`python -m tests.fuzz.run`, `make fuzz`) and the tests that replay and briefly fuzz them."""
