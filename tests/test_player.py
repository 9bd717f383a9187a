"""The dashboard's replay: pause stops frames, a seek back and a loop keep sensor time increasing
(the engine sees one continuing walk, not a reused id), speed changes the pace."""

import time

from engine.bus import Publisher, Subscriber

from app.demo import WALK
from app.player import Player


def test_player_pauses_seeks_and_loops_with_time_always_increasing(tmp_path):
    ep = f"ipc://{tmp_path}/player"
    with Subscriber(ep) as sub:
        pub = Publisher(ep)
        assert pub.wait_for_subscribers(1, timeout=5)
        player = Player(pub, [WALK], speed=4.0, loop=True).start()
        try:
            got = [sub.recv(timeout=2) for _ in range(60)]
            assert all(f is not None for f in got)
            player.paused = True
            time.sleep(0.2)
            while sub.recv(timeout=0.3) is not None:
                pass
            assert sub.recv(timeout=0.5) is None  # paused: nothing more
            at = player.position
            player.seek(1.0)  # back in the recording
            assert player.position < at
            player.speed = 20.0
            player.paused = False
            times = [f.t for f in got]
            deadline = time.monotonic() + 30
            loops = 0
            while loops < 1 and time.monotonic() < deadline:  # on past the end of the 40 s walk
                f = sub.recv(timeout=2)
                assert f is not None
                times.append(f.t)
                loops = int(times[-1] > player.duration + 2)
            assert loops == 1
        finally:
            player.close()
    steps = [b - a for a, b in zip(times, times[1:])]  # one message per instant (5 bodies each)
    assert all(d > 0 for d in steps), "sensor time went backwards"
    assert max(steps) < 0.1  # no jump forward either: it continues the walk
