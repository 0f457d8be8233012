"""The depth and motion networks of Li et al. (CoRL 2020), in PyTorch."""
