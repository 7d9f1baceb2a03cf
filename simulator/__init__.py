"""Fabric simulator: realistic sFlow from a simulated AI fabric."""
