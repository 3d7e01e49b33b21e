"""Stations: the places in the lab where a group does something (VR, gaming, 3D printing)."""
