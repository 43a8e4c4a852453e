"""Checkpoints in the safetensors format (being built)."""


def save(obj, f):
    raise NotImplementedError("rustgrad.save is not implemented yet")


def load(f, map_location=None, weights_only=True):
    raise NotImplementedError("rustgrad.load is not implemented yet")
