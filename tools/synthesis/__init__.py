"""SFT synthesis: question/answer pairs from cleaned records, grounded, cached and split.

Modules: ``offline`` (deterministic pairs from structure), ``llm_refiner`` (pairs from an
OpenAI-compatible LLM), ``grounding`` (support check and near-duplicate filter), ``cache``
(SQLite results cache), ``raft`` (examples with distractor chunks), ``split`` (train/eval by
record), ``pairs`` (the pair record) and ``refine`` (the stage entry point ``run_refine``).
"""
