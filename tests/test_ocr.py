import cv2
import numpy as np
import pytest

from lpr_ocr.base import OcrError, PlateText, TextLine
from lpr_ocr.config import OcrConfig
from lpr_ocr.engine import PlateOcr
from lpr_ocr.formats import FormatMatcher
from lpr_common.plate_text import normalise_char


def reading(text, confs=None, alts=None):
    confs = tuple(confs or [0.95] * len(text))
    line = TextLine(text, confs, (0, 0, 1, 1), tuple(alts or [()] * len(text)))
    return PlateText(text, float(np.mean(confs)), confs, text, lines=(line,))


def test_format_fixes_letter_digit_confusion():
    r = FormatMatcher(['UK']).rank(reading('LSI5EBC'))
    assert (r.text, r.region, r.format) == ('LS15EBC', 'UK', 'uk-2001')
    assert r.candidates[0].text == 'LS15EBC'
    assert r.char_confidences[2] < r.char_confidences[0]   # the coerced character costs


def test_runner_up_character_is_preferred_when_it_fits():
    alts = [()] * 7
    alts[2] = (('7', 0.45), ('1', 0.05))
    confs = [0.95, 0.95, 0.5, 0.95, 0.95, 0.95, 0.95]
    r = FormatMatcher(['UK']).rank(reading('LSI5EBC', confs=confs, alts=alts))
    assert r.text == 'LS75EBC'    # the model's own runner-up beats the glyph twin (0.5 * 0.8)


def test_glyph_twins_cost_by_how_alike_they_are():
    # O/0 are one glyph in many plate fonts: cheap; A/4 rarely: expensive
    sk = FormatMatcher(['SK', 'US'])
    assert sk.rank(reading('RK340A0')).text == 'RK340AO'
    assert sk.rank(reading('RK857A1', confs=[0.99] * 6 + [0.7])).text == 'RK857AI'


def test_views_are_ranked_together():
    m = FormatMatcher(['BR'])
    weak = reading('NTO1O53', confs=[0.6] * 7)
    strong = reading('NTO1053', confs=[0.97] * 7)
    assert m.rank(weak, strong).text == 'NTO1053'
    assert m.rank(PlateText.empty()).text == ''


def test_exact_fit_is_kept_and_unknown_formats_survive():
    m = FormatMatcher(['auto'])
    assert m.rank(reading('BA123XY')).text == 'BA123XY'
    r = m.rank(reading('HELLOWORLD'))
    assert r.text == 'HELLOWORLD' and r.format == ''
    assert r.confidence < 0.95   # not fitting any format costs


def test_border_character_is_trimmed_when_that_makes_a_format_fit():
    r = FormatMatcher(['SK']).rank(reading('IBA123XY', confs=[0.4] + [0.95] * 7))
    assert r.text == 'BA123XY'


def test_cyrillic_lookalikes_map_to_latin():
    r = FormatMatcher(['RU']).rank(reading('А123ВС77'))   # Cyrillic А, В, С
    assert r.text == 'A123BC77' and r.region == 'RU'


def test_unknown_region_is_an_error():
    with pytest.raises(ValueError, match='unknown region'):
        FormatMatcher(['XX'])


def test_normalise_char():
    assert [normalise_char(c) for c in 'a-Б 1·'] == ['A', '', 'Б', '', '1', '']


@pytest.fixture(scope='module')
def ocr():
    return PlateOcr.from_config(OcrConfig())


def render_plate(text: str, scale: float = 2.0) -> np.ndarray:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 4)
    plate = np.full((h + 40, w + 40, 3), 235, np.uint8)
    cv2.rectangle(plate, (2, 2), (w + 37, h + 37), (0, 0, 0), 3)
    cv2.putText(plate, text, (20, h + 20), cv2.FONT_HERSHEY_DUPLEX, scale, (20, 20, 20), 4, cv2.LINE_AA)
    return cv2.copyMakeBorder(plate, 20, 20, 30, 30, cv2.BORDER_CONSTANT, value=(90, 90, 90))


@pytest.mark.parametrize('text', ['AB12CDE', 'KA123BC', 'BRA2E19'])
def test_reads_a_rendered_plate(ocr, text):
    r = ocr.read(render_plate(text))
    assert r.text == text
    assert len(r.char_confidences) == len(text) and 0.5 < r.confidence <= 1.0


def test_plate_box_limits_the_lines(ocr):
    crop = render_plate('AB12CDE')
    h, w = crop.shape[:2]
    banner = np.full((60, w, 3), 255, np.uint8)
    cv2.putText(banner, 'DEALER', (20, 45), cv2.FONT_HERSHEY_DUPLEX, 1.5, (0, 0, 0), 3)
    stacked = np.vstack([banner, crop])
    r = ocr.read(stacked, (0, 60, w, h))
    assert r.text == 'AB12CDE'


def test_empty_and_tiny_crops_read_nothing(ocr):
    assert ocr.read(np.zeros((0, 0, 3), np.uint8)).text == ''
    assert ocr.read(np.zeros((3, 3, 3), np.uint8)).text == ''
    blank = ocr.read(np.full((60, 200, 3), 128, np.uint8))
    assert blank.text == '' or blank.confidence < 0.5


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(OcrError, match='OCR model not found'):
        PlateOcr.from_config(OcrConfig(rec_model=str(tmp_path / 'nope.onnx')))


def test_format_prior_breaks_ties_towards_layouts_the_camera_sees():
    fixed = FormatMatcher(['BR', 'PL'], learn_formats=False)
    assert fixed.rank(reading('NT01053')).text == 'NT01053'   # PL LLDDDDD fits as read
    brazil = FormatMatcher(['BR', 'PL'])
    for plate in ('ABC1234', 'QRS5678', 'KLM2468', 'XYZ1357', 'DEF9753'):
        brazil.rank(reading(plate))                            # a camera seeing LLLDDDD plates
    assert brazil.rank(reading('NT01053')).text == 'NTO1053'
    poland = FormatMatcher(['BR', 'PL'])
    for plate in ('WA12345', 'KR54321', 'GD11223', 'PO99887', 'WX13579', 'LU24680'):
        poland.rank(reading(plate))                            # a camera seeing LLDDDDD plates
    assert poland.rank(reading('NT01053')).text == 'NT01053'


def test_groups_expand():
    from lpr_common.plate_text import expand_regions
    assert expand_regions(['eu', 'UK', 'BR']) == ('UK', 'SK', 'CZ', 'DE', 'FR', 'PL', 'BR')


def test_square_two_row_plate_reads_top_row_first(ocr):
    plate = np.full((170, 260, 3), 235, np.uint8)
    cv2.rectangle(plate, (2, 2), (257, 167), (0, 0, 0), 3)
    cv2.putText(plate, 'AB12', (28, 72), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 4, cv2.LINE_AA)
    cv2.putText(plate, 'CDE', (52, 150), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 4, cv2.LINE_AA)
    crop = cv2.copyMakeBorder(plate, 20, 20, 30, 30, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    assert ocr.read(crop, (30, 20, 260, 170)).text == 'AB12CDE'


def test_small_lines_stay_out(ocr):
    plate = np.full((130, 420, 3), 235, np.uint8)
    cv2.putText(plate, 'TEXAS', (160, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (120, 40, 20), 2, cv2.LINE_AA)
    cv2.putText(plate, 'ABC1234', (22, 100), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 4, cv2.LINE_AA)
    crop = cv2.copyMakeBorder(plate, 20, 20, 30, 30, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    assert ocr.read(crop, (30, 20, 420, 130)).text == 'ABC1234'


@pytest.mark.parametrize('mode', ['gray', 'clahe', 'threshold'])
def test_preprocessing_modes_keep_three_channels(mode):
    from lpr_ocr.preprocess import preprocess
    crop = render_plate('AB12CDE')
    out = preprocess(crop, mode)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert (out[:, :, 0] == out[:, :, 1]).all()   # grey in all channels
    with pytest.raises(ValueError):
        preprocess(crop, 'sharpen')
