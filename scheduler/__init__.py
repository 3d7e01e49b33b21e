"""Rotation planning of the hands-on block (pure core; see README.md)."""
