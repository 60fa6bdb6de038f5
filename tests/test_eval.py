"""The evaluation harness, on a tiny labelled set made here where the answers
are known (including a deliberately wrong label that must count as wrong)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

from lpr_tools.datasets import DatasetError, load
from lpr_common.plate_text import compact, fold_label_quirks
from lpr_tools.evaluate import Pipeline, evaluate

PLATES = ('UK:AB12CDE', 'KZ:123ABC02', 'BR:ABC1D23')


def scene_frames():
    """(image, PlateTruth) for each plate, fully in view near the middle."""
    from lpr_camera.synthetic import SceneConfig, SyntheticScene
    scene = SyntheticScene(SceneConfig(cars=PLATES, seed=5, noise=2.0))
    out, seen = [], set()
    for i in range(scene.num_frames):
        for t in scene.truth(i):
            if t.fully_visible and t.text not in seen and 450 < t.box[0] < 700:
                seen.add(t.text)
                out.append((scene.frame(i), t))
    assert len(out) == len(PLATES)
    return out


@pytest.fixture(scope='module')
def plate_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('plates')
    for n, (image, truth) in enumerate(scene_frames()):
        cv2.imwrite(str(root / f'img{n}.jpg'), image)
        x, y, w, h = truth.box
        text = 'ZZ99ZZZ' if n == 2 else truth.text          # a wrong label: must be counted wrong
        (root / f'img{n}.txt').write_text(f'img{n}.jpg\t{x}\t{y}\t{w}\t{h}\t{text}\n')
    (root / 'broken.jpg').write_bytes(b'not an image')        # unreadable
    (root / 'broken.txt').write_text('broken.jpg\t1\t1\t10\t10\tAB12CDE\n')
    cv2.imwrite(str(root / 'nolabel.jpg'), scene_frames()[0][0])  # no .txt
    (root / 'badline.jpg').write_bytes((root / 'img0.jpg').read_bytes())
    (root / 'badline.txt').write_text('badline.jpg\tx\ty\n')
    return root


@pytest.fixture(scope='module')
def pipeline():
    return Pipeline.from_params(None)


def test_scores_a_known_set(plate_set, pipeline):
    result = evaluate(load(plate_set), pipeline, progress=False)
    rows = {r['file']: r for r in result['per_image']}
    assert result['mode'] == 'plates'
    assert set(rows) == {'img0.jpg', 'img1.jpg', 'img2.jpg'}
    assert result['images'] == 3
    assert rows['img0.jpg']['ok'] and rows['img1.jpg']['ok']
    assert rows['img2.jpg']['read'] == 'ABC1D23' and not rows['img2.jpg']['ok']
    assert result['exact'] == pytest.approx(2 / 3, abs=1e-3)
    assert result['detection_recall'] == 1.0
    reasons = {s['file']: s['reason'] for s in result['skipped_files']}
    assert set(reasons) == {'broken.jpg', 'nolabel.jpg', 'badline.txt'}
    assert 'unreadable image' in reasons['broken.jpg'] and 'no label' in reasons['nolabel.jpg']
    assert result['skipped'] == 3
    assert 0 < result['latency_ms']['p50'] <= result['latency_ms']['p90']


def test_crop_sets_from_csv_and_file_names(tmp_path, pipeline):
    by_csv, by_name = tmp_path / 'csv', tmp_path / 'names'
    by_csv.mkdir()
    by_name.mkdir()
    lines = ['file,text']
    for n, (image, t) in enumerate(scene_frames()):
        x, y, w, h = t.box
        crop = image[max(0, y - 10):y + h + 10, max(0, x - 15):x + w + 15]
        cv2.imwrite(str(by_csv / f'c{n}.png'), crop)
        cv2.imwrite(str(by_name / f'{t.text}.png'), crop)
        lines.append(f'c{n}.png,{t.text}')
    lines.append('c9.png')                                   # a bad line
    (by_csv / 'labels.csv').write_text('\n'.join(lines) + '\n')
    for root in (by_csv, by_name):
        result = evaluate(load(root), pipeline, progress=False)
        assert result['mode'] == 'crops' and result['images'] == 3
        assert result['exact'] == 1.0, result['per_image']
        assert result['detection_recall'] is None
    assert load(by_csv).skipped[0]['reason'].startswith('bad label line')


def test_normalise_and_fold():
    assert compact('ab 12-cd') == 'AB12CD'
    assert fold_label_quirks('RKO99AN') == fold_label_quirks('RK099AN') == 'RK099AN'
    assert fold_label_quirks('I23') == '123'


def test_bad_dataset_folders(tmp_path):
    with pytest.raises(DatasetError, match='not a folder'):
        load(tmp_path / 'missing')
    with pytest.raises(DatasetError, match='no images'):
        load(tmp_path)


def test_cli_writes_json_and_plot(plate_set, tmp_path):
    out, png = tmp_path / 'r.json', tmp_path / 'r.png'
    result = subprocess.run([sys.executable, '-m', 'lpr_tools.cli', 'eval', str(plate_set), '--json', str(out),
                             '--plot', str(png), '--quiet'], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'exact  66.7 %' in result.stdout and 'skipped broken.jpg' in result.stderr
    data = json.loads(out.read_text())
    assert data['images'] == 3 and {r['file'] for r in data['per_image']} == {'img0.jpg', 'img1.jpg', 'img2.jpg'}
    assert png.read_bytes()[:4] == b'\x89PNG'
