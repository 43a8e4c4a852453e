"""Neural-network modules and functional ops (being built)."""
