"""The network architectures: one `build_<name>() -> keras.Model` per model."""

from __future__ import annotations

import keras
from keras import layers, ops, regularizers

from digitlib.classes import NUM_CLASSES
from digitlib.registry import ModelSpec

WITH_OTHER = "with_other"
LOGITS = "logits"


def build_mlp(name: str = "mlp") -> keras.Model:
    """A plain fully connected baseline: 784 -> 120 -> 90 -> 80 -> 50 -> 30 -> 10, L2(0.01)."""
    inputs = keras.Input(shape=(784,), name="pixels")
    x = inputs
    for units in (120, 90, 80, 50, 30):
        x = layers.Dense(units, activation="relu", kernel_regularizer=regularizers.L2(0.01))(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def build_cnn(name: str = "cnn") -> keras.Model:
    """A small convolutional baseline: two convolutions and max-pools, one dense layer (225,034 weights)."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn_relu(x, filters: int, padding: str = "same", strides: int = 1):
    """3x3 convolution, batch norm, ReLU."""
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _dense_head(x, features_name: str | None = None):
    """Flatten, dropout, Dense 128 with batch norm and ReLU (the penultimate features), dropout."""
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu", name=features_name)(x)
    return layers.Dropout(0.4)(x)


def build_digitnet(name: str = "digitnet") -> keras.Model:
    """A VGG-style CNN with batch norm and dropout, made to be trained with drawing-like augmentation."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = _conv_bn_relu(inputs, 32)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 64)
    x = _conv_bn_relu(x, 64)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 128, padding="valid")
    x = _dense_head(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="digitlib")
class DigitProbabilities(layers.Layer):
    """The ten digit probabilities of a softmax whose last class is "not a digit" (they sum to at most 1)."""

    def call(self, probabilities):
        return probabilities[:, :NUM_CLASSES]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], NUM_CLASSES)


def build_drawnet(name: str = "drawnet") -> keras.Model:
    """A compact CNN for drawings, trained on 11 classes (digits and "not a digit"); outputs the 10 digits."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = _conv_bn_relu(inputs, 32)
    # Downsample early: most of the time of a CNN this size goes to its 28x28 layers.
    x = _conv_bn_relu(x, 32, strides=2)
    x = _conv_bn_relu(x, 64)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 128, padding="valid")
    x = _dense_head(x, features_name="embedding")
    logits = layers.Dense(NUM_CLASSES + 1, name=LOGITS)(x)
    with_other = layers.Softmax(name=WITH_OTHER)(logits)
    outputs = DigitProbabilities(name="probabilities")(with_other)
    return keras.Model(inputs, outputs, name=name)


def build_tinynet(name: str = "tinynet") -> keras.Model:
    """A small, fast CNN for MNIST's ten digits: a 5x5 convolution with stride 2, then two 3x3 ones."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Conv2D(16, 5, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 64, padding="valid")
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    logits = layers.Dense(NUM_CLASSES, name=LOGITS)(x)
    outputs = layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="digitlib")
class PooledProbabilities(layers.Layer):
    """Ten digit probabilities from two networks' logits, pooled as a weighted geometric mean.

    The first network's 11 logits (digits and "not a digit") keep their share for "not a digit"; the digits
    share the rest as softmax((1 - weight) * first digits + weight * second).
    """

    def __init__(self, weight: float, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs):
        with_other, second = inputs
        digits_share = ops.sum(ops.softmax(with_other)[:, :NUM_CLASSES], axis=1, keepdims=True)
        pooled = (1 - self.weight) * with_other[:, :NUM_CLASSES] + self.weight * second
        return ops.softmax(pooled) * digits_share

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], NUM_CLASSES)

    def get_config(self) -> dict:
        return {**super().get_config(), "weight": self.weight}


def logits_model(model: keras.Model) -> keras.Model:
    """The same network ending in its logits, before the softmax."""
    return keras.Model(model.input, model.get_layer(LOGITS).output, name=f"{model.name}_{LOGITS}")


def pooled(main: keras.Model, companion: keras.Model, weight: float) -> keras.Model:
    """One network whose answer pools a network for drawings with a companion (see PooledProbabilities)."""
    image = keras.Input(shape=main.input_shape[1:], name="image")
    both = [logits_model(main)(image), logits_model(companion)(image)]
    return keras.Model(image, PooledProbabilities(weight, name="probabilities")(both), name=main.name)


def networks(model: keras.Model) -> list[keras.Model]:
    """The networks inside a pooled model, the drawing network first; the model itself otherwise."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner or [model]


def eleven_class_model(model: keras.Model) -> keras.Model | None:
    """The same network ending in its 11-class softmax (digits and "not a digit"), or None if it has none."""
    names = {layer.name for layer in model.layers}
    return keras.Model(model.input, model.get_layer(WITH_OTHER).output) if WITH_OTHER in names else None


def build_network(architecture: str, name: str) -> keras.Model:
    """A new, untrained network built by `build_<architecture>`, called `name`."""
    return globals()[f"build_{architecture}"](name=name)


def build(model: ModelSpec) -> keras.Model:
    """A new, untrained network of a declared model."""
    return build_network(model.architecture, model.name)


def architecture_rows(model: keras.Model) -> list[dict[str, str | int]]:
    """One row per layer: its name, type, output shape (without the batch axis) and parameter count."""
    return [
        {
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": str(tuple(layer.output.shape[1:])),
            "parameters": int(layer.count_params()),
        }
        for layer in model.layers
    ]
