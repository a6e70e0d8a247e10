"""rm_training: turn AesLab export snapshots into reward models.

Plain Python (no Django). Entry point: ``python -m rm_training train|eval|mpo-select``.
"""

__version__ = "0.1.0"
