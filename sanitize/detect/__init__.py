"""Detectors: each turns an upright RGB picture into `Region`s of one shared type."""
