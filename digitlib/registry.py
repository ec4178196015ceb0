"""Every model a user can pick, declared once: name, label, architecture, recipe and role.

The CLI's choices, the app's model picker, `train --all`, `bench`, `report` and the tests all read this
list. Only the standard library: the app imports it without Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT, BEST_ON_MNIST, REFERENCE = "default", "best on MNIST", "reference"


@dataclass(frozen=True)
class Recipe:
    """How a network is trained on MNIST's training images."""

    epochs: int
    batch_size: int = 128
    learning_rate: float = 1e-3
    augment: bool = False
    augment_rate: float = 0.85  # the share of training digits distorted each epoch, when augmenting
    styles: str = "none"  # which augment.STYLE_MIXES the distorted digits get
    shift: float = 0.0  # then move every training digit by up to this many pixels of the 28x28 input
    zoom: float = 0.0  # and resize it by up to this share
    not_digits: float = 0.0  # letters and signs added to each batch as an 11th class, per digit
    handwritten_letters: float = 0.0  # the share of those drawn stroke by stroke rather than from a font
    seed: int = 42
    validation_size: int = 5000


@dataclass(frozen=True)
class Drawings:
    """How a network trained on MNIST is then fine-tuned on real people's drawings and letters.

    Each batch mixes MNIST training digits, real drawn digits and letters (re-rendered from their pen
    strokes with a random slant, aspect and pen width) and synthetic letters. The same fine-tuning runs
    once per group of institutions left out, for out-of-institution figures, and once on everything.
    """

    epochs: int
    steps_per_epoch: int
    learning_rate: float
    mnist: int  # images of each kind per batch
    drawn: int
    letters: int
    synthetic_letters: int
    mnist_augment_rate: float = 0.85
    mnist_styles: str = "drawn"
    seed: int = 1


@dataclass(frozen=True)
class Companion:
    """A small network trained on MNIST alone, whose opinion the model pools with its own when unsure.

    It errs elsewhere than a network that learnt drawings, so pooling the two wins back MNIST accuracy that
    learning drawings costs. Where the model is sure, the companion could not turn its best guess (see
    digitlib.classes.pooled), so it is not asked.
    A copy of it can also learn drawings and letters as the model does (the drawn companion), and is then
    asked next, where the answer is still unsure: a smaller network errs elsewhere on drawings too.
    """

    architecture: str  # digitlib.models.build_<architecture>
    recipe: Recipe
    weight: float  # its share of the pooled digit log-probabilities; the model has the rest
    asked_below: float  # asked only when the model's answer (a digit or "not a digit") is less likely
    # The drawn companion's share of all eleven classes' pooled log-probabilities; None: no drawn companion.
    drawn_weight: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One model of the app: what it is called, how it is built and trained, and what it is for."""

    name: str
    label: str
    architecture: str  # digitlib.models.build_<architecture>
    recipe: Recipe
    role: str
    summary: str
    drawings: Drawings | None = None
    # Served with its features in 8-bit integers (digitlib.export), where that measured faster.
    integer_features: bool = False
    companion: Companion | None = None

    @property
    def knows_letters(self) -> bool:
        """Whether the model learnt a "not a digit" class."""
        return self.recipe.not_digits > 0

    @property
    def has_drawn_companion(self) -> bool:
        """Whether a copy of its companion learns drawings with it (digitlib.registry.Companion)."""
        return self.companion is not None and self.companion.drawn_weight is not None


# shiftnet's recipe, the best on MNIST's test set: half the digits distorted, every digit moved by up to 2 px
# and resized by up to 10%, MNIST's classic augmentation (docs/models.md).
MOVED_AND_RESIZED = Recipe(epochs=30, learning_rate=2e-3, augment=True, augment_rate=0.5, shift=2.0, zoom=0.1)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="inknet",
        label="InkNet (for drawings)",
        architecture="drawnet",
        recipe=Recipe(
            epochs=20,
            learning_rate=2e-3,
            augment=True,
            styles="drawn",
            not_digits=0.15,
            handwritten_letters=0.5,
            shift=2.0,
            zoom=0.1,
        ),
        role=DEFAULT,
        summary="reads drawings and says when one is not a digit; trained on MNIST, then on real drawings",
        drawings=Drawings(
            epochs=5,
            steps_per_epoch=150,
            learning_rate=1e-3,
            mnist=64,
            drawn=40,
            letters=16,
            synthetic_letters=8,
        ),
        integer_features=True,
        companion=Companion(
            architecture="tinynet",
            recipe=replace(MOVED_AND_RESIZED, epochs=15),
            weight=0.2,
            asked_below=0.99,
            drawn_weight=0.2,
        ),
    ),
    ModelSpec(
        name="shiftnet",
        label="ShiftNet (for MNIST)",
        architecture="digitnet",
        recipe=MOVED_AND_RESIZED,
        role=BEST_ON_MNIST,
        summary="the best on MNIST's test set; never saw a real drawing or a letter",
        integer_features=True,
    ),
    ModelSpec(
        name="cnn",
        label="CNN (reference)",
        architecture="cnn",
        recipe=Recipe(epochs=10),
        role=REFERENCE,
        summary="a small convolutional baseline, trained on MNIST as it is",
    ),
    ModelSpec(
        name="mlp",
        label="MLP (reference)",
        architecture="mlp",
        recipe=Recipe(epochs=20),
        role=REFERENCE,
        summary="a fully connected baseline, trained on MNIST as it is",
    ),
)
MODEL_NAMES = tuple(model.name for model in MODELS)
DEFAULT_MODEL = next(model.name for model in MODELS if model.role == DEFAULT)


def spec(name: str) -> ModelSpec:
    """The declared model `name`; ValueError naming the choices when there is none."""
    for model in MODELS:
        if model.name == name:
            return model
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def preferred_model(names: list[str]) -> str:
    """The default model if it is among `names` (trained models, say), else the first of them."""
    return DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]


def label(name: str) -> str:
    """A readable name for a model (the name itself for one not declared here)."""
    return next((model.label for model in MODELS if model.name == name), name)
