"""Random espeak-ng voices, crossed from its training variants.

espeak-ng's English voices are its accents times a few dozen variant files (``voices/!v/m1``, ...): a
table of frequency, height and width factors for nine formants, a pitch range, and voice-quality
settings (flutter, roughness, voicing, breath, tone, the klatt synthesizer, ...). Variant ``rv<k>``
takes each formant's row, and each setting, from a training variant drawn afresh for it (never a held-out
variant), jitters them, and scales the whole vocal tract. They are new voices of the same engine, spread
over the space the training variants span rather than near any one of them.

Variant ``ra<k>`` is ``rv<k>``'s voice with an accent of its own: a few phoneme replacements
(espeak-ng's ``replace`` voice attribute), each a feature that sets English accents apart (h-dropping,
a stopped or fronted th, vowel mergers, final devoicing, ...), drawn from ``ACCENT_FEATURES``.

espeak-ng reads variants from its data folder only, so ``data_path()`` makes one per process: links to
the system's files, and the random variants in place of its own.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import subprocess
import tempfile

COUNT = 200  # random variants rv000 .. rv199 (espeak-ng lists at most 349 voice files; see data_path)
PREFIX = "rv"
ACCENT_PREFIX = "ra"  # ra000 .. ra199: rv<k>'s voice with accent_rules(k)
DRAWN = ("pitch", "flutter", "roughness", "voicing", "breath", "breathw", "tone", "consonants", "klatt",
         "stressAdd", "stressAmp", "intonation", "echo")  # settings taken whole from a drawn parent


# Phoneme replacements in espeak-ng's voice-file syntax (``replace <flags> <phoneme> <replacement>``;
# flags 1: at the end of a word only, 2: not in a stressed syllable), grouped by accent feature: an accent
# draws a few groups and one choice from each. Written from general features of English accents and the
# examples in espeak-ng's voices.md (docs/voices.md, "replace"), using phonemes of its English table; no
# held-out voice's file was read for them.
ACCENT_FEATURES = (
    (("0 h NULL",),),  # h-dropping
    (("0 T t", "0 D d"), ("0 T f", "0 D v"), ("0 T s", "0 D z")),  # th stopped, fronted, or a sibilant
    (("0 V U",), ("0 V 0",), ("0 V a",)),  # STRUT as FOOT (northern England), rounded, or fronted
    (("0 I i:",), ("0 i: I",)),  # KIT and FLEECE merged
    (("0 U u:",), ("0 u: U",)),  # FOOT and GOOSE merged
    (("0 0 O:",), ("0 0 A:",), ("0 O: 0",)),  # LOT merged with THOUGHT or PALM
    (("0 aa a",), ("0 a aa",)),  # BATH as TRAP, or TRAP as BATH
    (("2 @ a",), ("2 @ E",), ("2 @ V",)),  # unstressed vowels not reduced
    (("0 eI E",), ("0 eI aI",)),  # FACE monophthong, or lowered
    (("0 oU O:",), ("0 oU aU",)),  # GOAT monophthong, or lowered
    (("0 aI A:",), ("0 aI OI",)),  # PRICE monophthong, or backed
    (("1 d t", "1 z s", "1 v f", "1 g k"),),  # voiced stops and fricatives devoiced at a word's end
    (("1 N n",),),  # -in' for -ing
    (("1 t ?",),),  # a word-final t glottalled
    (("0 3: E",), ("0 3: O@",)),  # NURSE fronted, or rounded
    (("0 e@ i@",),),  # SQUARE and NEAR merged
    (("0 E I",), ("0 E eI",)),  # DRESS raised
    (("0 w v",), ("0 v w",)),  # w and v exchanged
    (("0 z s",),),  # no z
)


def variant_name(k: int, prefix: str = PREFIX) -> str:
    """The name of random variant ``k`` (``prefix`` ACCENT_PREFIX: its accented twin).

    >>> variant_name(7), variant_name(7, ACCENT_PREFIX)
    ('rv007', 'ra007')
    """
    return f"{prefix}{k:03d}"


def accent_rules(k: int) -> list[str]:
    """The ``replace`` lines of accent ``ra<k>``: three to seven groups of ``ACCENT_FEATURES``, one choice each.

    >>> accent_rules(3) == accent_rules(3), accent_rules(3) == accent_rules(4)
    (True, False)
    >>> all(line.startswith("replace ") for line in accent_rules(3))
    True
    """
    rng = random.Random(f"espeak-accent:{k}")
    groups = rng.sample(ACCENT_FEATURES, rng.randint(3, 7))
    return [f"replace {rule}" for group in groups for rule in rng.choice(group)]


def accent_variant(parents: list[dict[str, list[str]]], k: int) -> str:
    """The text of variant ``ra<k>``: ``rv<k>``'s voice (``random_variant``) under its own name, with
    ``accent_rules(k)``.

    >>> parents = [parse_variant("pitch 75 109\\nformant 1 97 100 100")]
    >>> text = accent_variant(parents, 5)
    >>> text.splitlines()[1], text.replace("name ra005", "name rv005").startswith(random_variant(parents, 5))
    ('name ra005', True)
    >>> text.endswith("\\n".join(accent_rules(5)) + "\\n")
    True
    """
    return random_variant(parents, k, ACCENT_PREFIX) + "".join(f"{line}\n" for line in accent_rules(k))


def parse_variant(text: str) -> dict[str, list[str]]:
    """A variant file's settings: ``formant<i>`` -> its numbers, and each other keyword -> its words.

    >>> parse_variant("name male1 // a comment\\npitch 75 109\\nformant 1 97 100 100")
    {'name': ['male1'], 'pitch': ['75', '109'], 'formant1': ['97', '100', '100']}
    """
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split("//")[0].split()
        if len(words) >= 2 and words[0] == "formant":
            out[f"formant{words[1]}"] = words[2:]
        elif words:
            out[words[0]] = words[1:]
    return out


def random_variant(parents: list[dict[str, list[str]]], k: int, prefix: str = PREFIX) -> str:
    """The text of variant ``rv<k>`` (named with ``prefix``), crossed from ``parents`` (parsed variant files).

    Each formant's row comes from one parent (espeak-ng's neutral 100 100 100 where it has none), its
    frequency moved by up to 5% and height and width by up to 20%, and every row's frequency scaled by
    one vocal-tract factor; each setting in ``DRAWN`` is taken whole from another parent, or left out
    if that parent has none.

    >>> parents = [parse_variant("pitch 75 109\\nformant 1 97 100 100"), parse_variant("klatt 3\\nflutter 8")]
    >>> text = random_variant(parents, 5)
    >>> text == random_variant(parents, 5), text == random_variant(parents, 6)
    (True, False)
    >>> text.splitlines()[:2]
    ['language variant', 'name rv005']
    >>> len([line for line in text.splitlines() if line.startswith("formant")])
    9
    """
    rng = random.Random(f"espeak-random:{k}")
    lines = ["language variant", f"name {variant_name(k, prefix)}"]
    for key in DRAWN:
        words = rng.choice(parents).get(key)
        if words:
            lines.append(" ".join([key, *words]))
    tract = rng.uniform(0.9, 1.12)  # the whole vocal tract: every formant moves together
    for i in range(9):
        row = rng.choice(parents).get(f"formant{i}") or ["100", "100", "100"]
        f, h, w = (float(x) for x in row[:3])
        f *= tract * rng.uniform(0.95, 1.05)
        h, w = h * rng.uniform(0.8, 1.2), w * rng.uniform(0.8, 1.2)
        lines.append(" ".join(["formant", str(i), *(str(round(x)) for x in (f, h, w)), *row[3:]]))
    return "\n".join(lines) + "\n"


_data: dict[str, str] = {}  # variant prefix -> this process's data folder (the parent of espeak-ng-data)


def system_data() -> str:
    """Where this machine's espeak-ng keeps its data, as ``espeak-ng --version`` says ("... Data at: PATH")."""
    said = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    if "Data at:" not in said:
        raise RuntimeError(f"espeak-ng --version does not say where its data is: {said.strip()!r}")
    return said.split("Data at:", 1)[1].strip()


def data_path(parents: list[str], prefix: str = PREFIX) -> str:
    """A folder to give espeak-ng as ESPEAK_DATA_PATH: the system's data, but for variants ``rv000``..
    (or ``ra000``.., as ``prefix`` says) alone, crossed from the system's variants named in ``parents``.
    espeak-ng stops listing voice files (its 131 languages among them) at 349 and then cannot find the
    rest by name, so the system's own variants and MBROLA voices are left out of it. Made once per
    process and removed at its exit."""
    if prefix in _data:
        return _data[prefix]
    system = system_data()
    system_variants = os.path.join(system, "voices", "!v")
    parsed = []
    for name in parents:
        with open(os.path.join(system_variants, name)) as f:
            parsed.append(parse_variant(f.read()))
    root = tempfile.mkdtemp(prefix="streamasr-espeak-")
    atexit.register(shutil.rmtree, root, True)
    data = os.path.join(root, "espeak-ng-data")
    variants = os.path.join(data, "voices", "!v")
    os.makedirs(variants)
    for name in os.listdir(system):
        if name != "voices":
            os.symlink(os.path.join(system, name), os.path.join(data, name))
    for name in os.listdir(os.path.join(system, "voices")):
        if name not in ("!v", "mb"):
            os.symlink(os.path.join(system, "voices", name), os.path.join(data, "voices", name))
    make = accent_variant if prefix == ACCENT_PREFIX else random_variant
    for k in range(COUNT):
        with open(os.path.join(variants, variant_name(k, prefix)), "w") as f:
            f.write(make(parsed, k))
    _data[prefix] = root
    return root
