"""Quick checks of the training pipeline (run with the training venv):

    .venv-train/bin/python -m pytest -q tools/train_reader/test_pipeline.py
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('onnxruntime')

from tools.train_reader.alphabet import ALPHABET, IMG_HEIGHT, IMG_WIDTH, SLOTS, decode, encode, usable  # noqa: E402
from tools.train_reader.model import PlateReader, parameter_count  # noqa: E402


def test_label_round_trip():
    for text in ('А123ВС77', '1กข1234', '京A12345', 'AB12CDE'):
        assert decode(encode(text)) == text
    assert not usable('AB_1') and not usable('A' * (SLOTS + 1)) and not usable('ÄB1')


def test_model_size_and_shape():
    net = PlateReader(SLOTS, len(ALPHABET)).eval()
    assert parameter_count(net) <= 1_500_000
    x = torch.zeros(2, 3, IMG_HEIGHT, IMG_WIDTH)
    assert net(x).shape == (2, SLOTS, len(ALPHABET))


def _fonts_or_skip():
    from tools.train_reader.fonts import font_pools
    try:
        font_pools(False)
        font_pools(True)
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_every_region_renders_a_usable_label():
    _fonts_or_skip()
    from tools.train_reader.damage import TEST, damage
    from tools.train_reader.render import REGIONS, Renderer
    rng = np.random.default_rng(0)
    for held_out in (False, True):
        renderer = Renderer(held_out)
        for region in REGIONS:
            plate = renderer.render(region, rng)
            assert usable(plate.text), (region, plate.text)
            crop = damage(plate.image, rng, TEST)
            assert crop.shape == (IMG_HEIGHT, IMG_WIDTH, 3) and crop.dtype == np.uint8


def test_rendering_is_seeded():
    _fonts_or_skip()
    from tools.train_reader.render import Renderer
    a = Renderer(False).render('RU', np.random.default_rng(5))
    b = Renderer(False).render('RU', np.random.default_rng(5))
    assert a.text == b.text and np.array_equal(a.image, b.image)


def test_export_matches_torch_and_config(tmp_path):
    import yaml
    from tools.train_reader.export import export
    net = PlateReader(SLOTS, len(ALPHABET))
    report = export(net, ALPHABET, tmp_path, 'tiny')
    assert report['max_abs_diff_vs_torch'] < 1e-4
    assert 'BatchNormalization' not in report['ops']
    config = yaml.safe_load((tmp_path / 'tiny_plate_config.yaml').read_text(encoding='utf-8'))
    assert config['alphabet'] == ALPHABET and config['max_plate_slots'] == SLOTS


def test_checkpoint_from_another_alphabet_is_refused(tmp_path):
    from tools.train_reader.train import load_checkpoint
    path = tmp_path / 'other.pt'
    torch.save({'alphabet': '0123456789_', 'slots': SLOTS, 'model': {}}, path)
    with pytest.raises(SystemExit, match='another alphabet'):
        load_checkpoint(path)
