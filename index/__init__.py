"""The index layer: typed models, text analysis, embedders and on-disk snapshots.

Everything else depends on this package; it depends on nothing of ours.
"""
