"""Shared-memory segments of a DDS process killed with SIGKILL are found and
removed; those of living processes are left alone."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from lpr import graph, shm

CHILD = textwrap.dedent('''
    import rclpy, sys, time
    from std_msgs.msg import String
    rclpy.init()
    node = rclpy.create_node('shm_probe')
    pub = node.create_publisher(String, 'shm_probe_topic', 10)
    sub = node.create_subscription(String, 'shm_probe_topic', lambda m: None, 10)
    print('ready', flush=True)
    while True:
        pub.publish(String(data='x'))
        rclpy.spin_once(node, timeout_sec=0.1)
''')


def test_segments_of_a_killed_process_are_reclaimed_and_live_ones_kept():
    env = dict(os.environ, **graph.dds_environment(), ROS_DOMAIN_ID=str(90 + os.getpid() % 9))
    before = shm.segment_names()
    live = subprocess.Popen([sys.executable, '-c', CHILD], env=env, stdout=subprocess.PIPE, text=True)
    doomed = subprocess.Popen([sys.executable, '-c', CHILD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == 'ready' and doomed.stdout.readline().strip() == 'ready'
        time.sleep(1.0)
        created = shm.segment_names() - before
        assert created, 'the DDS profile made no shared-memory segments'
        assert shm.orphans(among=created) == []          # both owners alive
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        left = shm.orphans(among=created)
        assert left, 'a SIGKILLed process left no segments (nothing to test)'
        cleaned = shm.clean(among=created)
        assert cleaned.files == len(left) and cleaned.bytes > 0
        assert not any(p.exists() for p in left)
        assert shm.orphans(among=shm.segment_names() - before) == []
        assert live.poll() is None                        # the living one still runs, its segments intact
    finally:
        for p in (live, doomed):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    shm.clean(among=shm.segment_names() - before)
