"""One home for plate text (lpr_common.plate_text): the tables agree with each other."""
from lpr_common import plate_text as pt


def test_every_twin_fold_is_a_glyph_pair():
    pairs = {frozenset(p) for p in pt.GLYPH_PAIRS}
    for src, dst in pt.TWIN_FOLD.items():
        a, b = chr(src), chr(dst)
        assert a == b or frozenset((a, b)) in pairs, (a, b)


def test_normalising_and_folding():
    assert pt.compact(' ls15-EBC ') == 'LS15EBC'
    assert pt.compact('А 123 ВС 77') == 'А123ВС77'          # Cyrillic letters stay Cyrillic
    assert pt.compact('京A·12345') == '京A12345'
    assert pt.fold_label_quirks('RKO99AN') == 'RK099AN'
    assert pt.to_latin('А123ВС77') == 'A123BC77'
    assert pt.twin_fold('LS15EBC') == pt.twin_fold('1SI5E8C')


def test_layouts():
    assert pt.fits_region('UK', 'LS15EBC') and not pt.fits_region('UK', 'LS15EB')
    assert pt.fits_region('RU', 'А123ВС77')                  # through the Latin twins
    assert pt.expand_regions(['eu', 'UK']) == ('UK', 'SK', 'CZ', 'DE', 'FR', 'PL')


def test_the_synthetic_camera_draws_only_layouts_the_ocr_knows():
    from lpr_camera import synthetic
    for spec in synthetic._PLATE_FORMATS.values():
        assert spec.layouts and all(f in pt.FORMATS[spec.name] for f in spec.layouts)
