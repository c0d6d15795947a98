"""The networks (one file each) and the checkpoint reader that builds them."""
