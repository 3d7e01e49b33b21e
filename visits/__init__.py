"""Visits: library teams' appointments at the lab, planned in rounds."""
