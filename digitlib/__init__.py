"""digit studio's library: MNIST data, the drawing-to-MNIST recipe, models, training, evaluation, serving."""
