"""Answering: the question → answer pipeline (retrieve → rerank → evidence → decide → compose).

Pure stages over a loaded snapshot: nothing here records, logs a question or reads the clock
for its result. This wing imports only ``index`` and itself (``tests/test_architecture.py``).
"""
