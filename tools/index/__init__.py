"""Agent C's tools: embeddings, the versioned FAISS + SQLite + BM25 index, retrieval, eval.

- ``tools.index.build.run_index(settings, data_dir, rebuild=False)``: the index stage.
- ``tools.index.search.Retriever(settings, data_dir).search(query, k, mode, filters,
  expand_links)``: hybrid, dense or BM25 retrieval.
- ``tools.index.evaluate.evaluate_retrieval(retriever, questions_path, k)``: hit@1, hit@5,
  MRR@10 and nDCG@10 per mode.
"""
