"""Memory: core blocks, the main-context compiler and compaction, recall and archival.

Built in the memory issue on top of :mod:`memvisor.events`.
"""

__all__: list[str] = []
