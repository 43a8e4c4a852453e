"""Worker information: rustgrad loads data in the calling process, so there are no workers."""

__all__ = ["get_worker_info"]


def get_worker_info():
    """None: rustgrad loads data in the main process."""
    return None
