"""The topic table (lpr_common.topics): every type exists, and the README's table is this one."""
import importlib
from pathlib import Path

from lpr_common import msgdefs, qos, topics

README = Path(__file__).resolve().parents[1] / 'README.md'


def test_every_topic_type_is_importable_with_a_full_definition():
    for t in topics.ALL:
        pkg, _, name = t.type_name.split('/')
        assert hasattr(importlib.import_module(f'{pkg}.msg'), name), t
        assert msgdefs.full_definition(t.type_name)
        assert t.qos in (qos.FRAMES, qos.RESULTS, qos.EVENTS, qos.STATUS, qos.DEBUG)
    assert len(topics.BY_NAME) == len(topics.ALL)


def test_the_readme_lists_every_topic_as_the_table_says():
    text = README.read_text()
    for t in topics.ALL:
        assert f'| `{t.name}` | `{t.type_name}` |' in text, t.name
