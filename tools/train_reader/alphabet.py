"""The reader's output alphabet and the label <-> slot-index coding."""
from __future__ import annotations

import numpy as np

DIGITS = '0123456789'
LATIN = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
# The 12 Cyrillic letters on Russian plates (those with a Latin twin shape).
CYRILLIC = 'АВЕКМНОРСТУХ'
# Thai consonants used on plates: the 44 less the obsolete ฃ and ฅ.
THAI = 'กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ'
# Chinese province abbreviations (the first character of a mainland plate).
CN_PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼'
PAD = '_'
ALPHABET = DIGITS + LATIN + CYRILLIC + THAI + CN_PROVINCES + PAD
SLOTS = 10
IMG_HEIGHT, IMG_WIDTH = 64, 128

assert len(set(ALPHABET)) == len(ALPHABET)
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def usable(text: str, alphabet: str = ALPHABET, slots: int = SLOTS) -> bool:
    """A label the model can learn: non-empty, fits the slots, every character known."""
    return 0 < len(text) <= slots and PAD not in text and all(ch in alphabet for ch in text)


def encode(text: str, slots: int = SLOTS) -> np.ndarray:
    """Label -> int64 [slots], pad-filled on the right."""
    if not usable(text, ALPHABET, slots):
        raise ValueError(f'label {text!r} does not fit the alphabet/slots')
    out = np.full(slots, _INDEX[PAD], np.int64)
    out[:len(text)] = [_INDEX[ch] for ch in text]
    return out


def decode(indices, alphabet: str = ALPHABET, pad: str = PAD) -> str:
    """Slot indices -> text, pad slots dropped."""
    return ''.join(alphabet[i] for i in indices if alphabet[i] != pad)


def fold(text: str) -> str:
    """O->0 and I->1, as the benchmark labels need (and the project's lpr eval does)."""
    return text.replace('O', '0').replace('I', '1')
