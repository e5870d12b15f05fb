"""Crashes, kills, full disks, power cuts and concurrent runs: the state survives whole."""
