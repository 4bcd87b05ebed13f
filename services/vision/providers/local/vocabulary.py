"""ImageNet's 1,000 classes folded into the words people use for a picture's subject.

The classifier knows 118 dog breeds and 5 kinds of house cat; a reader wants "dog" and "cat".
Each concept below collects the classes that mean it, and belongs to a group (animal, food,
vehicle, ...). A concept's score is the sum of its classes' probabilities, so a photo split
between "tabby" and "tiger cat" is still confidently a cat. Classes not listed (clothing,
tools, odd artefacts the model often sees in textures) are never named. ImageNet has no
person class: people come from the face detector.

Landscape and place concepts double as the setting of another subject ("a dog on a beach").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

LABELS_FILE = Path(__file__).with_name("models") / "imagenet_labels.txt"


@dataclass(frozen=True)
class Concept:
    """A word for a subject; `setting` concepts can also say where another subject is."""

    key: str
    group: str
    classes: tuple[int, ...]
    setting: bool = False


# (concept, group, ImageNet class indices as "a-b,c"); indices follow imagenet_labels.txt.
_TABLE: tuple[tuple[str, str, str], ...] = (
    # animals
    ("fish", "animal", "0-6,389-397"),
    ("bird", "animal", "7-24,80-100,127-146"),
    ("frog", "animal", "30-32"),
    ("turtle", "animal", "33-37"),
    ("lizard", "animal", "38-48"),
    ("crocodile", "animal", "49-50"),
    ("snake", "animal", "52-68"),
    ("spider", "animal", "72-77"),
    ("elephant", "animal", "101,385-386"),
    ("kangaroo", "animal", "104"),
    ("koala", "animal", "105"),
    ("jellyfish", "animal", "107"),
    ("snail", "animal", "113"),
    ("crab", "animal", "118-121,125"),
    ("lobster", "animal", "122-124"),
    ("whale", "animal", "147-148"),
    ("seal", "animal", "150"),
    ("dog", "animal", "151-268,273"),
    ("wolf", "animal", "269-272"),
    ("fox", "animal", "277-280"),
    ("cat", "animal", "281-285"),
    ("lynx", "animal", "287"),
    ("leopard", "animal", "288-290"),
    ("lion", "animal", "291"),
    ("tiger", "animal", "292"),
    ("cheetah", "animal", "293"),
    ("bear", "animal", "294-297"),
    ("meerkat", "animal", "298-299"),
    ("beetle", "animal", "300-307"),
    ("bee", "animal", "309"),
    ("ant", "animal", "310"),
    ("grasshopper", "animal", "311-312"),
    ("dragonfly", "animal", "319-320"),
    ("butterfly", "animal", "321-326"),
    ("starfish", "animal", "327"),
    ("rabbit", "animal", "330-332"),
    ("hamster", "animal", "333"),
    ("squirrel", "animal", "335"),
    ("guinea pig", "animal", "338"),
    ("horse", "animal", "339"),
    ("zebra", "animal", "340"),
    ("pig", "animal", "341"),
    ("hippopotamus", "animal", "344"),
    ("cattle", "animal", "345-347"),
    ("sheep", "animal", "348"),
    ("goat", "animal", "349-350"),
    ("antelope", "animal", "351-353"),
    ("camel", "animal", "354"),
    ("llama", "animal", "355"),
    ("otter", "animal", "360"),
    ("monkey", "animal", "365-382"),
    ("lemur", "animal", "383-384"),
    ("red panda", "animal", "387"),
    ("panda", "animal", "388"),
    # food and drink
    ("guacamole", "food", "924"),
    ("soup", "food", "925-926"),
    ("dessert", "food", "927"),
    ("ice cream", "food", "928-929"),
    ("bread", "food", "930-931"),
    ("pretzel", "food", "932"),
    ("burger", "food", "933"),
    ("hot dog", "food", "934"),
    ("mashed potatoes", "food", "935"),
    ("vegetables", "food", "936-946"),
    ("mushrooms", "food", "947,991-997"),
    ("apple", "food", "948"),
    ("strawberries", "food", "949"),
    ("oranges", "food", "950"),
    ("lemons", "food", "951"),
    ("fruit", "food", "952,955-957"),
    ("pineapple", "food", "953"),
    ("bananas", "food", "954"),
    ("pasta", "food", "959"),
    ("pizza", "food", "963"),
    ("pie", "food", "964"),
    ("burrito", "food", "965"),
    ("meal", "food", "923,962"),
    ("wine", "drink", "966,907"),
    ("coffee", "drink", "967"),
    ("cup", "drink", "968,504"),
    ("beer", "drink", "440-441"),
    ("teapot", "drink", "849"),
    # vehicles
    ("car", "vehicle", "407,436,468,511,609,627,656,661,751,817"),
    ("truck", "vehicle", "555,569,675,717,734,864,867"),
    ("bus", "vehicle", "654,779,874"),
    ("train", "vehicle", "466,547,565,705,820"),
    ("tram", "vehicle", "829"),
    ("bicycle", "vehicle", "444,671,870"),
    ("motorcycle", "vehicle", "665,670"),
    # "boat" is the word people use for ships too; the model splits one vessel over both
    ("boat", "vehicle", "403,472,484,510,554,576,625,628,694,780,814,833,871,914"),
    ("aeroplane", "vehicle", "404,895,908"),
    ("airship", "vehicle", "405"),
    ("rocket", "vehicle", "657,744,812"),
    ("tractor", "vehicle", "595,856,866"),
    ("cart", "vehicle", "603,690"),
    ("tank", "vehicle", "586,847"),
    ("camper van", "vehicle", "660,757"),
    ("crane", "vehicle", "517"),
    # buildings and places
    ("church", "building", "442,497"),
    ("mosque", "building", "668"),
    ("temple", "building", "663,832"),
    ("palace", "building", "698"),
    ("castle", "building", "483"),
    ("dome", "building", "538"),
    ("barn", "building", "425"),
    ("greenhouse", "building", "580"),
    ("lighthouse", "building", "437"),
    ("water tower", "building", "900"),
    ("yurt", "building", "915"),
    ("monument", "building", "649,682,863,873"),
    ("bridge", "building", "821,839,888"),
    ("dam", "building", "525"),
    ("pier", "place", "536,718"),
    ("waterfront", "place", "460"),
    ("shop", "place", "415,424,454,467,509,582,788,860,865"),
    ("library", "place", "624"),
    ("restaurant", "place", "762"),
    ("stage", "place", "819,854"),
    ("cinema", "place", "498"),
    ("fountain", "place", "562"),
    ("fence", "place", "489,716,912"),
    ("stone wall", "place", "825"),
    ("patio", "place", "706"),
    # landscapes
    ("mountains", "landscape", "970"),
    ("cliff", "landscape", "972"),
    ("coral reef", "landscape", "973"),
    ("geyser", "landscape", "974"),
    ("lake", "landscape", "975"),
    ("coast", "landscape", "976"),
    ("beach", "landscape", "977-978"),
    ("valley", "landscape", "979"),
    ("volcano", "landscape", "980"),
    # plants
    ("flower", "plant", "984-986"),
    ("potted plant", "plant", "738"),
    ("vase", "plant", "883"),
    ("corn", "plant", "987,998"),
    # home
    ("sofa", "furniture", "831"),
    ("chair", "furniture", "423,559,765,857"),
    ("table", "furniture", "526,532"),
    ("bed", "furniture", "431,516,520,564"),
    ("bookcase", "furniture", "453"),
    ("cabinet", "furniture", "493,495,894"),
    ("lamp", "furniture", "619,846"),
    ("window", "furniture", "904-905"),
    # devices
    ("laptop", "device", "620"),
    ("computer", "device", "527,664,782"),
    ("television", "device", "851"),
    ("phone", "device", "487,528,707"),
    ("keyboard", "device", "508,878"),
    ("camera", "device", "732,759"),
    ("tripod", "device", "872"),
    ("clock", "device", "409,530,892"),
    ("watch", "device", "531,826"),
    # musical instruments
    ("guitar", "instrument", "402,546"),
    ("piano", "instrument", "579,881"),
    ("violin", "instrument", "889"),
    ("cello", "instrument", "486"),
    ("drums", "instrument", "541,822"),
    ("accordion", "instrument", "401"),
    ("banjo", "instrument", "420"),
    ("saxophone", "instrument", "776"),
    ("trumpet", "instrument", "513"),
    ("harp", "instrument", "594"),
    # other things people photograph
    ("umbrella", "object", "879"),
    ("balloon", "object", "417"),
    ("parachute", "object", "701"),
    ("candle", "object", "470"),
    ("teddy bear", "object", "850"),
    ("street sign", "object", "919"),
    ("traffic light", "object", "920"),
    ("book", "object", "917,921"),
    ("bowl", "object", "659,809"),
    ("backpack", "object", "414"),
    ("diver", "person", "983"),
)

# Concepts that also say where another subject is.
_SETTINGS = frozenset(
    {
        "beach",
        "coast",
        "lake",
        "mountains",
        "valley",
        "cliff",
        "coral reef",
        "stage",
        "restaurant",
        "library",
        "shop",
        "waterfront",
        "pier",
    }
)


# Rooms recognised from the objects in them: the setting of a subject, or the subject itself.
_SCENE_TABLE: tuple[tuple[str, str], ...] = (
    ("kitchen", "469,499,505,521,534,544,550,567,618,651,729,760,766,813,827,828,859,909,910"),
    ("living room", "453,548,556,598,619,721,765,831,846,851,905"),
    ("bedroom", "431,516,520,564,750"),
    ("bathroom", "435,793,794,804,861,876,896,999"),
    ("office", "508,526,527,664,673,713,742"),
)


def _indices(spec: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return tuple(out)


CONCEPTS: tuple[Concept, ...] = tuple(
    Concept(key, group, _indices(spec), key in _SETTINGS) for key, group, spec in _TABLE
)


SCENES: tuple[Concept, ...] = tuple(
    Concept(key, "room", _indices(spec), setting=True) for key, spec in _SCENE_TABLE
)


@cache
def labels() -> tuple[str, ...]:
    """ImageNet class names in model output order (first synonym of each)."""
    return tuple(line.split(",")[0] for line in LABELS_FILE.read_text().splitlines())


@cache
def _membership(table: tuple[Concept, ...]) -> np.ndarray:
    """(concepts x 1000) 0/1 matrix: one matrix product scores every concept."""
    matrix = np.zeros((len(table), 1000), dtype=np.float32)
    for row, concept in enumerate(table):
        matrix[row, list(concept.classes)] = 1.0
    return matrix


@dataclass(frozen=True)
class ConceptScore:
    concept: Concept
    score: float
    top_class: str  # the ImageNet class that scored highest inside the concept


def score_concepts(probs: np.ndarray, table: tuple[Concept, ...] = CONCEPTS) -> list[ConceptScore]:
    """Every concept (or scene, with table=SCENES) with a non-trivial score, best first."""
    scores = _membership(table) @ probs.astype(np.float32)
    names = labels()
    out: list[ConceptScore] = []
    for row in np.argsort(-scores).tolist():
        if scores[row] < 0.01:
            break
        concept = table[row]
        best = max(concept.classes, key=lambda i: float(probs[i]))
        out.append(ConceptScore(concept, round(float(scores[row]), 4), names[best]))
    return out
