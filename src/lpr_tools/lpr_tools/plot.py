"""The chart of an evaluation: accuracy bars and the latency distribution."""
from __future__ import annotations

from pathlib import Path


def plot(result: dict, path: str | Path) -> Path:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={'width_ratios': [1, 1.4]})
    names, values = [], []
    if result.get('detection_recall') is not None:
        names.append('plate found')
        values.append(result['detection_recall'])
    names += ['exact', 'exact (O=0, I=1)']
    values += [result['exact'], result['exact_folded']]
    bars = left.bar(names, [100 * v for v in values], color=['#4c72b0', '#55a868', '#8fbc8f'][-len(names):])
    left.bar_label(bars, fmt='%.1f %%')
    left.set_ylim(0, 105)
    left.set_ylabel('% of images')
    left.set_title(f"{Path(result['dataset']).name}: {result['images']} images")

    latency = [r['latency_ms'] for r in result['per_image']]
    right.hist(latency, bins=30, color='#4c72b0', alpha=0.8)
    for key, style in (('p50', '-'), ('p90', '--')):
        value = result['latency_ms'][key]
        right.axvline(value, color='black', linestyle=style, label=f'{key} {value:.0f} ms')
    stages = 'OCR only' if result.get('mode') == 'crops' else 'detection + OCR'
    right.set_xlabel(f'ms per image ({stages})')
    right.set_ylabel('images')
    right.set_title('latency')
    right.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
