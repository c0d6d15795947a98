"""interp: morph one face photo into another through StyleGAN2's latent space."""

__version__ = "0.1.0"
