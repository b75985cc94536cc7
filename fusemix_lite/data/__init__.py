"""Datasets in one format: generated (scenes, spoken, sounds), Debian-packaged and downloaded."""

from .format import Item, PairedDataset, assign_splits

__all__ = ["Item", "PairedDataset", "assign_splits"]
