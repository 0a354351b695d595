"""Reading media files: metadata inventory of inputs and the residual check of outputs."""
