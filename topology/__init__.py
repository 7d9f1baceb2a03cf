"""sFlow-RT topology model (to come with the collector core)."""
