"""LangGraph graphs of Data Alchemy: the pipeline (wash, refine, index, train) and chat."""
