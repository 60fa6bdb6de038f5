from lpr_recorder.passes import (FINAL, PREVIEW, Observation, PassAggregator, PassConfig,
                                 plate_distance, vote)

S = 1_000_000_000


def obs(text, t, conf=0.9, camera='cam0', payload=None):
    return Observation(camera, int(t * S), text, conf, payload=payload)


def feed(agg, reads):
    out = []
    for r in reads:
        out += agg.add(r)
        out += agg.tick(r.stamp_ns)
    return out


def test_vote_per_character_weighted():
    text, support = vote([('LS15EBC', 0.9), ('LSI5EBC', 0.6), ('LS15EBC', 0.8), ('LS15E8C', 0.5)])
    assert text == 'LS15EBC'
    assert 0 < support <= 1
    # the length most reads agree on wins over a confident odd one
    assert vote([('ABC123', 0.9), ('ABC1234', 0.95), ('ABC1234', 0.7)])[0] == 'ABC1234'
    assert vote([]) == ('', 0.0)


def test_distance():
    assert plate_distance('ABC123', 'ABC123') == 0
    assert plate_distance('ABC123', 'A8C123') == 1
    assert plate_distance('ABC123', 'ABC1234') == 1
    assert plate_distance('', 'ABC') == 3


def test_one_event_per_pass_with_flicker():
    agg = PassAggregator(PassConfig(gap_s=1.0, min_reads=2, preview_reads=3))
    reads = [obs(t, 0.1 * i) for i, t in enumerate(['LS15EBC', 'LSI5EBC', 'LS15EBC', 'LS15EBC', 'L515EBC'])]
    decisions = feed(agg, reads) + agg.tick(int(5 * S))
    finals = [d for d in decisions if d.stage == FINAL]
    previews = [d for d in decisions if d.stage == PREVIEW]
    assert [d.text for d in finals] == ['LS15EBC']
    assert len(previews) == 1 and previews[0].event_id == finals[0].event_id
    assert finals[0].read_count == 5


def test_two_cars_in_sequence_and_noise():
    agg = PassAggregator(PassConfig(gap_s=1.0, min_reads=2, preview_reads=0))
    reads = [obs('AB12CDE', 0.1 * i) for i in range(5)]
    reads += [obs('ZZ99YYY', 3 + 0.1 * i) for i in range(5)]
    reads += [obs('QQQQ', 7)]                      # a single stray read: noise
    decisions = feed(agg, reads) + agg.tick(int(20 * S))
    assert [d.text for d in decisions] == ['AB12CDE', 'ZZ99YYY']


def test_plates_one_character_apart_are_separate_passes_when_apart_in_time():
    agg = PassAggregator(PassConfig(gap_s=1.0, repeat_window_s=0.5, preview_reads=0))
    reads = [obs('AB12CDE', 0.1 * i) for i in range(4)] + [obs('AB12CDF', 5 + 0.1 * i) for i in range(4)]
    decisions = feed(agg, reads) + agg.tick(int(20 * S))
    assert [d.text for d in decisions] == ['AB12CDE', 'AB12CDF']


def test_repeat_within_window_rejoins():
    agg = PassAggregator(PassConfig(gap_s=1.0, repeat_window_s=10.0, preview_reads=0))
    reads = [obs('AB12CDE', 0.1 * i) for i in range(4)] + [obs('AB12CDE', 4 + 0.1 * i) for i in range(4)]
    decisions = feed(agg, reads) + agg.tick(int(30 * S))
    assert [d.text for d in decisions] == ['AB12CDE']


def test_cameras_are_independent_and_low_confidence_ignored():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0, min_confidence=0.5))
    reads = [obs('AB12CDE', 0.1 * i, camera='a') for i in range(3)]
    reads += [obs('AB12CDE', 0.1 * i, camera='b') for i in range(3)]
    reads += [obs('XX11XXX', 0.5, conf=0.2)]
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert sorted(d.camera_id for d in decisions) == ['a', 'b']
    assert agg.ignored == 1


def test_best_evidence_keeps_payload_of_voted_text():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = [obs('AB12CDE', 0.0, 0.7, payload='img-a'), obs('AB12CDE', 0.1, 0.8, payload='img-b'),
             obs('A812CDE', 0.2, 0.95, payload='img-wrong')]
    d, = feed(agg, reads) + agg.flush()
    assert d.text == 'AB12CDE' and d.best.payload == 'img-b'


def test_flush_closes_open_passes():
    agg = PassAggregator(PassConfig(gap_s=100.0, preview_reads=0))
    feed(agg, [obs('AB12CDE', 0.1 * i) for i in range(3)])
    assert agg.open_count == 1
    assert [d.text for d in agg.flush()] == ['AB12CDE']
    assert agg.open_count == 0


def test_a_pass_too_short_to_count_is_reopened_by_later_reads():
    agg = PassAggregator(PassConfig(gap_s=1.0, min_reads=2, repeat_window_s=10.0, preview_reads=0))
    decisions = feed(agg, [obs('AB12CDE', 0.0)])          # one read, then quiet
    decisions += agg.tick(int(3 * S))
    assert decisions == []
    decisions += feed(agg, [obs('AB12CDE', 4.0), obs('AB12CDE', 4.1)])
    decisions += agg.tick(int(10 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('AB12CDE', 3)]


def test_a_partial_read_joins_the_full_plate_pass():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = [obs('LM79', 0.0), obs('LM79ADV', 0.1), obs('LM79ADV', 0.2), obs('LM79ADV', 0.3), obs('79ADV', 0.4)]
    decisions = feed(agg, reads) + agg.tick(int(5 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('LM79ADV', 5)]


def tracked(text, t, x, width=100.0, conf=0.9, camera='cam0'):
    return Observation(camera, int(t * S), text, conf, (x, 300.0, width, width / 4.5))


def test_cars_one_character_apart_in_sequence_are_two_events():
    agg = PassAggregator(PassConfig(gap_s=1.0, repeat_window_s=30.0, preview_reads=0))
    first = [tracked('AB12CDE', 0.1 * i, 100 + 60 * i) for i in range(8)]
    second = [tracked('AB12CDF', 3 + 0.1 * i, 100 + 60 * i) for i in range(8)]
    decisions = feed(agg, first + second) + agg.tick(int(30 * S))
    assert [d.text for d in decisions] == ['AB12CDE', 'AB12CDF']


def test_flicker_within_the_repeat_window_is_not_a_new_event():
    agg = PassAggregator(PassConfig(gap_s=1.0, repeat_window_s=30.0, preview_reads=0))
    reads = [tracked('LS15EBC', 0.1 * i, 100 + 60 * i) for i in range(6)]
    reads += [tracked('LSI5EBC', 4 + 0.1 * i, 400) for i in range(3)]   # seen again, I for 1
    decisions = feed(agg, reads) + agg.tick(int(60 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('LS15EBC', 6)]   # the repeat adds no event


def test_two_similar_plates_in_view_at_once_stay_apart():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = []
    for i in range(6):
        reads += [tracked('AB12CDE', 0.1 * i, 100 + 10 * i), tracked('AB12CDF', 0.1 * i + 0.01, 900 - 10 * i)]
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert sorted(d.text for d in decisions) == ['AB12CDE', 'AB12CDF']


def test_a_misread_on_the_same_track_votes_with_it():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = [tracked('KA123BC', 0.1 * i, 500 + 5 * i) for i in range(5)]
    reads.append(tracked('XX0000', 0.55, 526))          # garbage read, same place
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('KA123BC', 6)]


def test_stop_and_go_is_one_event():
    agg = PassAggregator(PassConfig(gap_s=1.5, preview_reads=0))
    reads = [tracked('AB12CDE', 0.1 * i, 100 + 40 * i) for i in range(10)]       # drives in
    reads += [tracked('AB12CDE', 1.0 + 0.5 * i, 500) for i in range(20)]          # waits 10 s
    reads += [tracked('AB12CDE', 11.0 + 0.1 * i, 500 + 40 * i) for i in range(10)]  # goes
    decisions = feed(agg, reads) + agg.tick(int(30 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('AB12CDE', 40)]


def test_direction_from_plate_growth():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    coming = [tracked('AB12CDE', 0.1 * i, 600, width=80 + 10 * i) for i in range(8)]
    going = [tracked('ZZ99YYY', 5 + 0.1 * i, 600, width=150 - 10 * i) for i in range(8)]
    sideways = [tracked('KA123BC', 10 + 0.1 * i, 100 + 80 * i) for i in range(8)]
    decisions = feed(agg, coming + going + sideways) + agg.tick(int(30 * S))
    assert [(d.text, d.direction) for d in decisions] == [
        ('AB12CDE', 'approaching'), ('ZZ99YYY', 'leaving'), ('KA123BC', '')]


def test_preview_after_a_timeout_with_two_agreeing_reads():
    agg = PassAggregator(PassConfig(gap_s=5.0, preview_reads=5, preview_timeout_s=1.0))
    reads = [obs('AB12CDE', 0.0), obs('AB12CDE', 0.2), obs('A812CDE', 0.4)]
    early = feed(agg, reads)
    assert early == []                                  # 2 of 5 agree, 0.4 s < 1 s
    late = agg.tick(int(1.2 * S))
    assert [(d.stage, d.text) for d in late] == [(PREVIEW, 'AB12CDE')]
    final = agg.tick(int(10 * S))
    assert [(d.stage, d.event_id) for d in final] == [(FINAL, late[0].event_id)]


def test_a_queue_at_a_barrier_is_one_event_per_car():
    """Each car drives up to the same spot; the next one appears where the last
    one was, 0.6 s later, well within gap_s: two events, votes never mixed."""
    agg = PassAggregator(PassConfig(gap_s=2.0, preview_reads=0))
    first = [tracked('LM010BE', 0.08 * i, 500 - i, width=380 + 5 * i) for i in range(20)]
    second = [tracked('RK857AI', 2.2 + 0.08 * i, 470 - i, width=360 + 5 * i) for i in range(20)]
    decisions = feed(agg, first + second) + agg.tick(int(30 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('LM010BE', 20), ('RK857AI', 20)]


def test_one_sure_misread_on_a_track_does_not_split_it():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = [tracked('KA123BC', 0.1 * i, 500) for i in range(4)]
    reads.append(tracked('XA789ZZ', 0.45, 502, conf=0.95))     # one sure, different read
    reads += [tracked('KA123BC', 0.5 + 0.1 * i, 504) for i in range(4)]
    reads.append(tracked('XA789ZZ', 0.95, 506, conf=0.95))     # again, but not in a row
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert [(d.text, d.read_count) for d in decisions] == [('KA123BC', 10)]


def test_a_plate_hidden_for_a_moment_rejoins_its_pass():
    agg = PassAggregator(PassConfig(gap_s=1.5, preview_reads=0))
    reads = [tracked('AB12CDE', 0.1 * i, 600 + 5 * i) for i in range(5)]
    reads += [tracked('ZZ99YYY', 0.6 + 0.1 * i, 100 + 60 * i) for i in range(6)]   # passes in front
    reads += [tracked('AB12CDE', 1.3 + 0.1 * i, 640 + 5 * i) for i in range(5)]    # seen again
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert sorted((d.text, d.read_count) for d in decisions) == [('AB12CDE', 10), ('ZZ99YYY', 6)]


def test_two_plates_of_one_frame_never_share_a_pass():
    agg = PassAggregator(PassConfig(gap_s=1.0, preview_reads=0))
    reads = []
    for i in range(5):   # two cars side by side, plates read in the same frames, close together
        reads += [tracked('AB12CDE', 0.1 * i, 500), tracked('AB12CDF', 0.1 * i, 540)]
    decisions = feed(agg, reads) + agg.tick(int(10 * S))
    assert sorted((d.text, d.read_count) for d in decisions) == [('AB12CDE', 5), ('AB12CDF', 5)]
