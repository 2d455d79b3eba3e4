"""jaxgen: train and sample image generative models (diffusion, GAN, VAE) with JAX and Flax."""
