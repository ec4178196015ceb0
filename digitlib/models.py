"""The network architectures, one `build_<name>() -> keras.Model` per model, and how they are compiled."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, regularizers

from digitlib.classes import NUM_CLASSES
from digitlib.registry import ModelSpec

WITH_OTHER = "with_other"


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


def _conv_bn_relu(
    x: keras.KerasTensor, filters: int, padding: str = "same", strides: int = 1
) -> keras.KerasTensor:
    """3x3 convolution, batch norm, ReLU."""
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _dense_head(x: keras.KerasTensor, features_name: str | None = None) -> keras.KerasTensor:
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

    def call(self, probabilities: keras.KerasTensor) -> keras.KerasTensor:
        """The first ten columns of the eleven."""
        return probabilities[:, :NUM_CLASSES]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """(batch, 10)."""
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
    with_other = layers.Dense(NUM_CLASSES + 1, activation="softmax", name=WITH_OTHER)(x)
    outputs = DigitProbabilities(name="probabilities")(with_other)
    return keras.Model(inputs, outputs, name=name)


def build_tinynet(name: str = "tinynet") -> keras.Model:
    """A small CNN for MNIST's ten digits: a 5x5 convolution with stride 2, two 3x3 ones, a dense layer."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Conv2D(16, 5, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 64, padding="valid")
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def eleven_class_model(model: keras.Model) -> keras.Model | None:
    """The same network ending in its 11-class softmax (digits and "not a digit"), or None if it has none."""
    names = {layer.name for layer in model.layers}
    return keras.Model(model.input, model.get_layer(WITH_OTHER).output) if WITH_OTHER in names else None


def with_not_a_digit(network: keras.Model, name: str) -> keras.Model:
    """A copy of a ten-digit network whose last layer also says "not a digit", its digits as they were."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    kernel, bias = copy.layers[-1].get_weights()
    head = layers.Dense(NUM_CLASSES + 1, activation="softmax", name=WITH_OTHER)
    outputs = head(copy.layers[-1].input)
    # "Not a digit" starts at a logit of 0 and learns from the letters.
    head.set_weights([np.pad(kernel, ((0, 0), (0, 1))), np.pad(bias, (0, 1))])
    return keras.Model(copy.input, outputs, name=name)


def build_network(architecture: str, name: str) -> keras.Model:
    """A new, untrained network built by `build_<architecture>`, called `name`."""
    return globals()[f"build_{architecture}"](name=name)


def build(model: ModelSpec) -> keras.Model:
    """A new, untrained network of a declared model."""
    return build_network(model.architecture, model.name)


def build_companion(model: ModelSpec) -> keras.Model:
    """A new, untrained companion network of a declared model that has one."""
    return build_network(model.companion.architecture, f"{model.name}_companion")


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


def compile_model(model: keras.Model, learning_rate: float, epochs: int, steps_per_epoch: int) -> None:
    """Adam with a warm-up of at most one epoch, then cosine decay."""
    total = epochs * steps_per_epoch
    warmup = min(steps_per_epoch, total // 4)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10,
        decay_steps=max(1, total - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
