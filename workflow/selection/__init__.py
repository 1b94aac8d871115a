"""Selected synthetic sets: the quality gate and the combined (half diffusion, half copy-paste) set."""
